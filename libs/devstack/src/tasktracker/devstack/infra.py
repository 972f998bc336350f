"""Choose the PostgreSQL and NATS to use: given URLs, else containers, else embedded."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tasktracker.devstack.embedded import EmbeddedNats, EmbeddedPostgres, docker_available

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Infra:
    nats_url: str
    postgres_url: str  # server URL; databases are chosen by the caller
    nats_kind: str  # "given" | "container" | "embedded"
    postgres_kind: str


@contextlib.contextmanager
def infrastructure(
    *,
    nats_url: str | None,
    postgres_url: str | None,
    data_dir: Path,
    keep_data: bool,
    allow_containers: bool = True,
) -> Iterator[Infra]:
    """Yield URLs of a running NATS and PostgreSQL; stop whatever this started on exit."""
    with contextlib.ExitStack() as stack:
        use_containers = (
            allow_containers and (not nats_url or not postgres_url) and (docker_available())
        )
        nats_kind = pg_kind = "given"
        if not nats_url:
            nats_url, nats_kind = stack.enter_context(_nats(data_dir, use_containers))
        if not postgres_url:
            postgres_url, pg_kind = stack.enter_context(
                _postgres(data_dir, use_containers, keep_data)
            )
        yield Infra(nats_url, postgres_url, nats_kind, pg_kind)


@contextlib.contextmanager
def _nats(data_dir: Path, use_container: bool) -> Iterator[tuple[str, str]]:
    if use_container:
        from testcontainers.nats import NatsContainer

        with NatsContainer(command="-js") as container:
            yield container.nats_uri(), "container"
        return
    server = EmbeddedNats(data_dir / "nats")
    url = server.start()
    try:
        yield url, "embedded"
    finally:
        server.stop()


@contextlib.contextmanager
def _postgres(data_dir: Path, use_container: bool, keep: bool) -> Iterator[tuple[str, str]]:
    if use_container:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url(), "container"
        return
    server = EmbeddedPostgres(data_dir / "postgres", delete_on_stop=not keep)
    url = server.start()
    try:
        yield url, "embedded"
    finally:
        server.stop()

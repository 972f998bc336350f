"""Fixtures of the deploy tests: the repository's deploy folder, and a private nats-server
running the deploy's NATS users and permissions (deploy/nats/accounts.conf)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasktracker.devstack.embedded import free_port, nats_server_binary, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NATS_USERS = ("ingestion", "knowledge", "analysis", "review", "gateway")


@dataclass(frozen=True)
class SecuredNats:
    url: str
    passwords: dict[str, str]


@pytest.fixture(scope="session")
def secured_nats() -> Iterator[SecuredNats]:
    """nats-server with JetStream on a port and store of its own, including the deploy's
    accounts.conf unchanged; passwords come from its environment, as in compose."""
    passwords = {user: f"test-{user}-{os.urandom(6).hex()}" for user in NATS_USERS}
    env = dict(os.environ)
    env.update({f"NATS_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()})
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tt-deploy-nats-") as tmp:
        conf = Path(tmp) / "nats.conf"
        # nats-server resolves `include` relative to the including file, absolute paths too.
        include = os.path.relpath(DEPLOY / "nats" / "accounts.conf", tmp)
        conf.write_text(
            f"listen: 127.0.0.1:{port}\n"
            f'jetstream {{ store_dir: "{Path(tmp) / "js"}" }}\n'
            f"include {include}\n"
        )
        with (Path(tmp) / "nats.log").open("wb") as log:
            process = subprocess.Popen(
                [nats_server_binary(), "-c", str(conf)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for_port(port)
                yield SecuredNats(url=f"nats://127.0.0.1:{port}", passwords=passwords)
            finally:
                process.terminate()
                process.wait(10)

"""The deploy's PostgreSQL roles (deploy/postgres), on this machine's real PostgreSQL: a role
and a database per service, each role reaching only its own database, its migrations run as
that owner role. Names carry the session id; all are dropped at the end."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tasktracker.devstack.infra import Infra
from tasktracker.servicekit.db import asyncpg_dsn
from tests.deploy.conftest import DEPLOY
from tests.deploy.services import BY_NAME

SERVICES = ("ingestion", "knowledge", "analysis", "review")


def psql_directory() -> str:
    """psql of this machine, else the one the pgserver wheel ships (a dev dependency)."""
    found = shutil.which("psql")
    if found:
        return str(Path(found).parent)
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin")


def run_initdb(server_url: str, prefix: str, passwords: dict[str, str]) -> None:
    url = make_url(server_url)
    env = dict(os.environ)
    env.update(
        PATH=psql_directory() + os.pathsep + env.get("PATH", ""),
        PGHOST=url.host or str(url.query.get("host", "")),
        PGPORT=str(url.port or 5432),
        PGPASSWORD=url.password or "",
        POSTGRES_USER=url.username or "postgres",
        POSTGRES_DB="postgres",
        TT_PG_PREFIX=prefix,
        TT_PG_SERVICE_SQL=str(DEPLOY / "postgres" / "service-database.sql"),
    )
    env.update({f"TT_PG_{s.upper()}_PASSWORD": pw for s, pw in passwords.items()})
    subprocess.run(
        ["sh", str(DEPLOY / "postgres" / "initdb.sh")], env=env, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
async def service_urls(infra: Infra, session_id: str) -> AsyncIterator[dict[str, str]]:
    """service → URL of its database as its own role, made by the deploy's initdb.sh."""
    prefix = f"tt_role_{session_id}_"
    passwords = {s: secrets.token_urlsafe(16) for s in SERVICES}
    server = make_url(infra.postgres_url)
    run_initdb(infra.postgres_url, prefix, passwords)
    try:
        yield {
            s: server.set(
                username=prefix + s, password=passwords[s], database=prefix + s
            ).render_as_string(hide_password=False)
            for s in SERVICES
        }
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(infra.postgres_url))
        try:
            for s in SERVICES:
                await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}{s}" WITH (FORCE)')
                await admin.execute(f'DROP ROLE IF EXISTS "{prefix}{s}"')
        finally:
            await admin.close()


def as_role_on(urls: dict[str, str], role_of: str, database_of: str) -> str:
    own, other = make_url(urls[role_of]), make_url(urls[database_of])
    return asyncpg_dsn(own.set(database=other.database).render_as_string(hide_password=False))


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_owns_its_database_and_nothing_more(
    service_urls: dict[str, str], service: str
) -> None:
    conn = await asyncpg.connect(as_role_on(service_urls, service, service))
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(role) == (False, False, False)
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        assert owner == make_url(service_urls[service]).username
        await conn.execute("CREATE TABLE owned_here (id int)")  # the public schema is its own
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_cannot_connect_to_another_services_database(
    service_urls: dict[str, str], service: str
) -> None:
    for other in SERVICES:
        if other == service:
            continue
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await asyncpg.connect(as_role_on(service_urls, service, other))


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_as_the_owner_role(service_urls: dict[str, str], service: str) -> None:
    """`tasktracker-<service> migrate`, the command of the compose step and Kubernetes Job."""
    svc = BY_NAME[service]
    env = dict(os.environ, **{svc.env("database_url"): service_urls[service]})
    command = Path(sys.executable).with_name(svc.command)
    result = subprocess.run(
        [str(command), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_initdb_runs_again_on_an_initialised_server(
    infra: Infra, service_urls: dict[str, str]
) -> None:
    prefix = make_url(service_urls["review"]).username.removesuffix("review")
    passwords = {s: make_url(url).password for s, url in service_urls.items()}
    run_initdb(infra.postgres_url, prefix, passwords)

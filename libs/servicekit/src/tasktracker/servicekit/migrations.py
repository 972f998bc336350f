"""Alembic, driven programmatically: each service ships its migrations inside its package."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tasktracker.servicekit.db import asyncpg_dsn, asyncpg_sqlalchemy_url


def alembic_config(database_url: str, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # attributes, not a main option: ConfigParser would read `%` in a socket path as syntax
    config.attributes["database_url"] = asyncpg_sqlalchemy_url(database_url)
    return config


def upgrade(database_url: str, script_location: Path, revision: str = "head") -> None:
    """Create the database if missing, then migrate it. Blocking: call it off the loop."""
    asyncio.run(ensure_database(database_url))
    command.upgrade(alembic_config(database_url, script_location), revision)


async def ensure_database(database_url: str) -> None:
    url = make_url(database_url)
    name = url.database
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py` (online, async)."""
    url = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())

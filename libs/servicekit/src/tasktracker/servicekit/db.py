"""Async SQLAlchemy engine/session helpers and URL conversions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, **kwargs: object) -> AsyncEngine:
    return create_async_engine(asyncpg_sqlalchemy_url(database_url), pool_pre_ping=True, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_sqlalchemy_url(database_url: str) -> str:
    """`postgresql://…` or `postgresql+asyncpg://…` → the asyncpg SQLAlchemy form."""
    url = make_url(database_url)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(database_url: str) -> str:
    """The same URL in the plain form asyncpg.connect() accepts."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


DATA_EXCEPTION_CLASS = "22"  # SQLSTATE class 22: data exception (range, encoding, format)


def is_data_error(exc: BaseException) -> bool:
    """A value PostgreSQL cannot store; asyncpg reports values it refuses before sending
    with the same class. Retrying such an error can never help."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    return str(sqlstate).startswith(DATA_EXCEPTION_CLASS)

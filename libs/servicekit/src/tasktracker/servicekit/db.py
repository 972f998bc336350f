"""Async SQLAlchemy engine/session helpers and URL conversions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, *, pre_ping: bool = True, **kwargs: object) -> AsyncEngine:
    """`hide_parameters`: an error's text names the statement, never the values bound to it
    (chat text, names); such errors end up in logs and on the dead-letter stream.

    `pre_ping` tests a pooled connection at each checkout (with asyncpg three statements:
    BEGIN, an empty query, ROLLBACK). Without it a dead connection fails the first unit of
    work that takes it, and that failure invalidates the pool's older connections; only for
    callers that retry such a failure (`is_database_unavailable`) anyway.
    """
    return create_async_engine(
        asyncpg_sqlalchemy_url(database_url),
        pool_pre_ping=pre_ping,
        hide_parameters=True,
        **kwargs,
    )


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


# SQLSTATEs of a server that is unreachable, going away or full, rather than of a statement:
# class 08 (connection exception), 57P01-57P03 (shutting down, crashed, starting up), 53300.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03", "53300")


def is_database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or the connection was lost: waiting can help, and
    the statement itself is not at fault. Looks through the whole chain of causes.

    A bare `TimeoutError` does not count: it is as often a job's own deadline, which must not
    wait forever.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _names_an_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _names_an_outage(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        return True  # refused, reset, no route, socket file gone
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    return sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)

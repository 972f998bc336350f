"""Chat binding codes: issued, claimed once by the chat they are posted in."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion.db.models import BindCode


async def issue(
    session: AsyncSession, *, digest: str, project_id: int, ttl: timedelta, actor: str | None
) -> datetime:
    """Store the code's hash; when it expires."""
    stmt = (
        BindCode.__table__.insert()
        .values(
            digest=digest,
            project_id=project_id,
            created_by=actor,
            expires_at=func.now() + ttl,
        )
        .returning(BindCode.expires_at)
    )
    return (await session.execute(stmt)).scalar_one()


async def find(session: AsyncSession, digest: str) -> BindCode | None:
    return (await session.execute(select(BindCode).where(BindCode.digest == digest))).scalar()


async def claim(session: AsyncSession, digest: str, chat_id: int) -> BindCode | None:
    """Use the code for this chat if it is unused and unexpired; None otherwise. The
    conditional update decides a race between two chats posting the same code."""
    stmt = (
        update(BindCode)
        .where(
            BindCode.digest == digest,
            BindCode.used_at.is_(None),
            BindCode.expires_at > func.now(),
        )
        .values(used_at=func.now(), used_chat_id=chat_id)
        .returning(BindCode)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar()

"""Updates kept aside: parked (chat bound to no project yet) and skipped (kinds not stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion.db.models import ParkedUpdate, SkippedUpdate
from tasktracker.ingestion.domain import IncomingMessage


async def park(session: AsyncSession, message: IncomingMessage, payload: dict[str, Any]) -> bool:
    """Keep the update until its chat is bound; False if it was parked before."""
    stmt = (
        insert(ParkedUpdate)
        .values(
            chat_id=message.chat_id,
            chat_title=message.chat_title,
            update_id=message.update_id,
            update_kind=message.update_kind,
            payload=payload,
        )
        .on_conflict_do_nothing(constraint="uq_parked_chat_update")
        .returning(ParkedUpdate.id)
    )
    return (await session.execute(stmt)).first() is not None


async def park_many(
    session: AsyncSession, batch: Sequence[tuple[IncomingMessage, dict[str, Any]]]
) -> None:
    """`park` for many updates in one statement; one parked before stays as it is."""
    if not batch:
        return
    rows = [
        {
            "chat_id": message.chat_id,
            "chat_title": message.chat_title,
            "update_id": message.update_id,
            "update_kind": message.update_kind,
            "payload": payload,
        }
        for message, payload in batch
    ]
    await session.execute(_PARK, rows)


_PARK = insert(ParkedUpdate.__table__).on_conflict_do_nothing(constraint="uq_parked_chat_update")


async def waiting_for_chat(session: AsyncSession, chat_id: int, limit: int) -> list[ParkedUpdate]:
    """The chat's first `limit` parked updates in Telegram's order (update ids are
    sequential)."""
    stmt = (
        select(ParkedUpdate)
        .where(ParkedUpdate.chat_id == chat_id, ParkedUpdate.released_at.is_(None))
        .order_by(ParkedUpdate.update_id, ParkedUpdate.id)
        .limit(limit)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def count_waiting_for_chat(session: AsyncSession, chat_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(ParkedUpdate)
        .where(ParkedUpdate.chat_id == chat_id, ParkedUpdate.released_at.is_(None))
    )
    return (await session.execute(stmt)).scalar_one()


async def mark_released(session: AsyncSession, ids: list[int], project_id: int) -> None:
    if ids:
        await session.execute(
            update(ParkedUpdate)
            .where(ParkedUpdate.id.in_(ids))
            .values(released_at=func.now(), released_to_project_id=project_id)
        )


async def list_waiting(
    session: AsyncSession, *, chat_id: int | None, limit: int
) -> list[ParkedUpdate]:
    stmt = select(ParkedUpdate).where(ParkedUpdate.released_at.is_(None))
    if chat_id is not None:
        stmt = stmt.where(ParkedUpdate.chat_id == chat_id)
    stmt = stmt.order_by(ParkedUpdate.update_id, ParkedUpdate.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def count_waiting(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(ParkedUpdate).where(ParkedUpdate.released_at.is_(None))
    return (await session.execute(stmt)).scalar_one()


async def record_skipped(
    session: AsyncSession, update_id: int, update_kind: str, reason: str | None = None
) -> None:
    stmt = (
        insert(SkippedUpdate)
        .values(update_id=update_id, update_kind=update_kind, reason=reason)
        .on_conflict_do_nothing(index_elements=[SkippedUpdate.update_id])
    )
    await session.execute(stmt)


async def skipped_counts(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(SkippedUpdate.update_kind, func.count())
        .group_by(SkippedUpdate.update_kind)
        .order_by(SkippedUpdate.update_kind)
    )
    return {kind: count for kind, count in (await session.execute(stmt)).all()}

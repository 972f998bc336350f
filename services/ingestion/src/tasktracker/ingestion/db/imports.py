"""Chat history imports: the import rows (created once per unfinished file, locked per chunk)
and the conditional upsert of imported messages."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion.db import messages
from tasktracker.ingestion.db.models import Import, Message


async def create_or_resume(session: AsyncSession, values: dict[str, Any]) -> tuple[Import, bool]:
    """A new import of the file, or the unfinished one of the same file in the project (then
    True; a failed one is queued again). The partial unique index decides between two
    concurrent uploads of one file."""
    stmt = (
        insert(Import)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[Import.project_id, Import.file_sha256],
            # A literal, as in the index: with a bound parameter the generic plan PostgreSQL
            # makes from a prepared statement's sixth run on a connection matches no index.
            index_where=text("status <> 'completed'"),
        )
        .returning(Import.id)
    )
    created = (await session.execute(stmt)).scalar_one_or_none()
    if created is not None:
        return await _get(session, created), False
    resumed = (
        update(Import)
        .where(
            Import.project_id == values["project_id"],
            Import.file_sha256 == values["file_sha256"],
            Import.status != "completed",
        )
        .values(
            status=case((Import.status == "failed", "queued"), else_=Import.status),
            error=None,
            updated_at=func.now(),
        )
        .returning(Import.id)
    )
    found = (await session.execute(resumed)).scalar_one()
    return await _get(session, found), True


async def _get(session: AsyncSession, import_id: int) -> Import:
    stmt = select(Import).where(Import.id == import_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()


async def get_import(session: AsyncSession, project_id: int, import_id: int) -> Import | None:
    stmt = select(Import).where(Import.id == import_id, Import.project_id == project_id)
    return (await session.execute(stmt)).scalars().first()


async def lock_import(session: AsyncSession, import_id: int) -> Import | None:
    """The import, locked until the transaction ends: one chunk of it at a time, however
    many jobs run it."""
    stmt = (
        select(Import)
        .where(Import.id == import_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().first()


async def kept_file_digest(session: AsyncSession, import_id: int) -> str | None:
    """The SHA-256 of the import's file while it is kept (None once the import is done)."""
    stmt = select(Import.file_sha256).where(Import.id == import_id, Import.file.is_not(None))
    return (await session.execute(stmt)).scalar()


async def load_file(session: AsyncSession, import_id: int) -> bytes | None:
    return (await session.execute(select(Import.file).where(Import.id == import_id))).scalar()


async def save_progress(session: AsyncSession, import_id: int, changes: dict[str, Any]) -> Import:
    stmt = (
        update(Import)
        .where(Import.id == import_id)
        .values(**changes, updated_at=func.now())
        .returning(Import)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


# An export is a snapshot: it applies only a strictly newer edit, so a repeated import, or
# one of what the webhook already holds (same or newer), changes nothing. Only the new row ids
# come back.
_UPSERT_IMPORTED = messages.unnest_upsert(
    "coalesce(excluded.edited_at, '-infinity') > coalesce(messages.edited_at, '-infinity')",
    "id, message_id",
)


async def stored_edits(
    session: AsyncSession, project_id: int, chat_id: int, message_ids: Collection[int]
) -> dict[int, datetime | None]:
    """The chat's stored messages among `message_ids`: their edit dates (None: not edited).

    One range scan of the unique index from the smallest id to the largest (a chunk's ids
    are an export's consecutive messages). Not `IN (ids)`: without statistics on a freshly
    filled table PostgreSQL scanned the chat's whole index range with the list as a filter,
    for every chunk, so an import slowed down as the chat grew (464 msg/s for 50,000)."""
    if not message_ids:
        return {}
    stmt = stored_edits_between(project_id, chat_id, min(message_ids), max(message_ids))
    rows = await session.execute(stmt)
    return {message_id: edited for message_id, edited in rows if message_id in message_ids}


def stored_edits_between(project_id: int, chat_id: int, lowest: int, highest: int) -> Select:
    return select(Message.message_id, Message.edited_at).where(
        Message.project_id == project_id,
        Message.chat_id == chat_id,
        Message.message_id.between(lowest, highest),
    )


async def upsert_imported(
    session: AsyncSession, rows: Sequence[messages.RowValues]
) -> dict[int, int]:
    """Store imported messages (each once, with no update id); the row ids of those stored
    or changed, by Telegram message id."""
    if not rows:
        return {}
    changed = await session.execute(_UPSERT_IMPORTED, messages.message_arrays(rows))
    return {message_id: row_id for row_id, message_id in changed}

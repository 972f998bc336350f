"""Chat history imports: the import rows (created once per unfinished file, locked per chunk)
and the conditional upsert of imported messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion.db.models import Import, Message
from tasktracker.ingestion.domain import IncomingMessage


async def create_or_resume(session: AsyncSession, values: dict[str, Any]) -> tuple[Import, bool]:
    """A new import of the file, or the unfinished one of the same file in the project (then
    True; a failed one is queued again). The partial unique index decides between two
    concurrent uploads of one file."""
    stmt = (
        insert(Import)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[Import.project_id, Import.file_sha256],
            index_where=Import.status != "completed",
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


# One statement whatever the chunk size: the rows travel as arrays (`unnest`), so neither
# SQLAlchemy nor PostgreSQL handles a statement with thousands of parameters, and only the new
# row ids come back. An export is a snapshot: it applies only a strictly newer edit, so a
# repeated import, or one of what the webhook already holds (same or newer), changes nothing.
_UPSERT_IMPORTED = text(
    """
    INSERT INTO messages (project_id, chat_id, message_id, update_id, user_id, author, text,
                          kind, sent_at, edited_at, reply_to_message_id, forwarded_from, raw)
    SELECT v.project_id, v.chat_id, v.message_id, NULL, v.user_id, CAST(v.author AS jsonb),
           v.text, v.kind, v.sent_at, v.edited_at, v.reply_to_message_id, v.forwarded_from,
           CAST(v.raw AS jsonb)
    FROM unnest(
        CAST(:project_id AS bigint[]), CAST(:chat_id AS bigint[]), CAST(:message_id AS bigint[]),
        CAST(:user_id AS bigint[]), CAST(:author AS text[]), CAST(:text AS text[]),
        CAST(:kind AS text[]), CAST(:sent_at AS timestamptz[]), CAST(:edited_at AS timestamptz[]),
        CAST(:reply_to_message_id AS bigint[]), CAST(:forwarded_from AS text[]),
        CAST(:raw AS text[])
    ) AS v(project_id, chat_id, message_id, user_id, author, text, kind, sent_at, edited_at,
           reply_to_message_id, forwarded_from, raw)
    ON CONFLICT ON CONSTRAINT uq_messages_chat_message DO UPDATE SET
        update_id = NULL, user_id = excluded.user_id, author = excluded.author,
        text = excluded.text, kind = excluded.kind, sent_at = excluded.sent_at,
        edited_at = excluded.edited_at, reply_to_message_id = excluded.reply_to_message_id,
        forwarded_from = excluded.forwarded_from, raw = excluded.raw, updated_at = now()
    WHERE coalesce(excluded.edited_at, '-infinity') > coalesce(messages.edited_at, '-infinity')
    RETURNING id, message_id
    """
)
_COLUMNS = (
    "project_id", "chat_id", "message_id", "user_id", "author", "text", "kind", "sent_at",
    "edited_at", "reply_to_message_id", "forwarded_from", "raw",
)  # fmt: skip


async def stored_edits(
    session: AsyncSession, project_id: int, chat_id: int, message_ids: Sequence[int]
) -> dict[int, datetime | None]:
    """The chat's stored messages among `message_ids`: their edit dates (None: not edited)."""
    if not message_ids:
        return {}
    stmt = select(Message.message_id, Message.edited_at).where(
        Message.project_id == project_id,
        Message.chat_id == chat_id,
        Message.message_id.in_(message_ids),
    )
    return dict((await session.execute(stmt)).tuples().all())


async def upsert_imported(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Store imported messages (`imported_values` each, each message once); the row ids of
    those stored or changed, by Telegram message id."""
    if not rows:
        return {}
    params = {name: [row[name] for row in rows] for name in _COLUMNS}
    changed = await session.execute(_UPSERT_IMPORTED, params)
    return {message_id: row_id for row_id, message_id in changed}


def imported_values(
    project_id: int, message: IncomingMessage, user_id: int | None, author: str, raw: str
) -> dict[str, Any]:
    """A row of `upsert_imported`; `author` and `raw` as JSON text."""
    return {
        "project_id": project_id,
        "chat_id": message.chat_id,
        "message_id": message.message_id,
        "user_id": user_id,
        "author": author,
        "text": message.text,
        "kind": str(message.kind),
        "sent_at": message.sent_at,
        "edited_at": message.edited_at,
        "reply_to_message_id": message.reply_to_message_id,
        "forwarded_from": message.forwarded_from,
        "raw": raw,
    }

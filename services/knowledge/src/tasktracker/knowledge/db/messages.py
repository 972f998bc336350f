"""The message read model: batch upserts that keep the newest version, and window reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import MessageRecord
from tasktracker.knowledge.db.models import ChatMessage

_NEVER = literal_column("'-infinity'::timestamptz")
_NO_UPDATE = -1


def version(record: MessageRecord) -> tuple[datetime, int]:
    """What orders versions of a message, as ingestion orders them: (edited_at, update_id),
    the original (no edit date) first."""
    return (
        record.edited_at or datetime.min.replace(tzinfo=UTC),
        record.update_id if record.update_id is not None else _NO_UPDATE,
    )


def newest_versions(records: Sequence[MessageRecord]) -> list[MessageRecord]:
    """Each message once, its newest version (the later one on a tie), in id order: one
    statement may not touch a row twice, and id order locks rows alike in every batch."""
    newest: dict[int, MessageRecord] = {}
    for record in records:
        kept = newest.get(record.id)
        if kept is None or version(record) >= version(kept):
            newest[record.id] = record
    return [newest[key] for key in sorted(newest)]


async def upsert_messages(session: AsyncSession, records: Sequence[MessageRecord]) -> int:
    """Store new messages and newer versions in one statement; how many rows changed. A
    repeated or older version matches no row of the conditional update."""
    rows = [_values(record) for record in newest_versions(records)]
    if not rows:
        return 0
    stmt = insert(ChatMessage).values(rows)
    incoming = tuple_(
        func.coalesce(stmt.excluded.edited_at, _NEVER),
        func.coalesce(stmt.excluded.update_id, _NO_UPDATE),
    )
    stored = tuple_(
        func.coalesce(ChatMessage.edited_at, _NEVER),
        func.coalesce(ChatMessage.update_id, _NO_UPDATE),
    )
    content = set(rows[0]) - {"id"}
    stmt = stmt.on_conflict_do_update(
        index_elements=[ChatMessage.id],
        set_={**{name: stmt.excluded[name] for name in content}, "stored_at": func.now()},
        where=incoming > stored,
    ).returning(ChatMessage.id)
    return len((await session.execute(stmt)).all())


def _values(record: MessageRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "project_id": record.project_id,
        "chat_id": record.chat_id,
        "message_id": record.message_id,
        "update_id": record.update_id,
        "author_name": record.author.display_name,
        "text": record.text,
        "kind": str(record.kind),
        "sent_at": record.sent_at,
        "edited_at": record.edited_at,
        "reply_to_message_id": record.reply_to_message_id,
    }


async def window_ids(
    session: AsyncSession, project_id: int, start: datetime, end: datetime, limit: int
) -> list[int]:
    """Ids of the project's messages sent in [start, end), in (sent_at, id) order."""
    stmt = (
        select(ChatMessage.id)
        .where(
            ChatMessage.project_id == project_id,
            ChatMessage.sent_at >= start,
            ChatMessage.sent_at < end,
        )
        .order_by(ChatMessage.sent_at, ChatMessage.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def ordered(session: AsyncSession, project_id: int, ids: Sequence[int]) -> list[ChatMessage]:
    """The project's messages among `ids`, in (sent_at, id) order."""
    stmt = (
        select(ChatMessage)
        .where(ChatMessage.project_id == project_id, ChatMessage.id.in_(list(ids)))
        .order_by(ChatMessage.sent_at, ChatMessage.id)
    )
    return list((await session.execute(stmt)).scalars())


async def by_id(session: AsyncSession, ids: Sequence[int]) -> list[ChatMessage]:
    stmt = select(ChatMessage).where(ChatMessage.id.in_(list(ids)))
    return list((await session.execute(stmt)).scalars())

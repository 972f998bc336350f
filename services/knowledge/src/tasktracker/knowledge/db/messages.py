"""The message read model: batch upserts that keep the newest version, and window reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import MessageRecord
from tasktracker.knowledge.db.models import ChatMessage

_NO_UPDATE = -1  # an unknown update id sorts first, as in the statement below


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


# One statement whatever the batch size: the rows travel as eleven arrays (`unnest`), so
# neither SQLAlchemy nor PostgreSQL compiles a statement with thousands of parameters. A
# repeated or older version matches no row of the conditional update.
_UPSERT = text(
    """
    INSERT INTO messages (id, project_id, chat_id, message_id, update_id, author_name, text,
                          kind, sent_at, edited_at, reply_to_message_id)
    SELECT * FROM unnest(
        CAST(:id AS bigint[]), CAST(:project_id AS bigint[]), CAST(:chat_id AS bigint[]),
        CAST(:message_id AS bigint[]), CAST(:update_id AS bigint[]),
        CAST(:author_name AS text[]), CAST(:text AS text[]), CAST(:kind AS text[]),
        CAST(:sent_at AS timestamptz[]), CAST(:edited_at AS timestamptz[]),
        CAST(:reply_to_message_id AS bigint[]))
    ON CONFLICT (id) DO UPDATE SET
        project_id = excluded.project_id, chat_id = excluded.chat_id,
        message_id = excluded.message_id, update_id = excluded.update_id,
        author_name = excluded.author_name, text = excluded.text, kind = excluded.kind,
        sent_at = excluded.sent_at, edited_at = excluded.edited_at,
        reply_to_message_id = excluded.reply_to_message_id, stored_at = now()
    WHERE (coalesce(excluded.edited_at, '-infinity'), coalesce(excluded.update_id, -1))
        > (coalesce(messages.edited_at, '-infinity'), coalesce(messages.update_id, -1))
    RETURNING id
    """
)


async def upsert_messages(session: AsyncSession, records: Sequence[MessageRecord]) -> int:
    """Store new messages and newer versions in one statement; how many rows changed."""
    newest = newest_versions(records)
    if not newest:
        return 0
    # Column by column: a batch of 200 builds eleven lists, not 200 row dicts to transpose.
    params = {
        "id": [r.id for r in newest],
        "project_id": [r.project_id for r in newest],
        "chat_id": [r.chat_id for r in newest],
        "message_id": [r.message_id for r in newest],
        "update_id": [r.update_id for r in newest],
        "author_name": [r.author.display_name for r in newest],
        "text": [r.text for r in newest],
        "kind": [str(r.kind) for r in newest],
        "sent_at": [r.sent_at for r in newest],
        "edited_at": [r.edited_at for r in newest],
        "reply_to_message_id": [r.reply_to_message_id for r in newest],
    }
    return len((await session.execute(_UPSERT, params)).all())


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

"""The message read model: batch upserts that keep the newest version of each message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import MessageRecord
from tasktracker.review.db.models import MessageRow

_NEVER = literal_column("'-infinity'::timestamptz")
_NO_UPDATE = -1


def _version(record: MessageRecord) -> tuple[datetime, int]:
    """How ingestion orders versions of a message: (edited_at, update_id), original first."""
    return (
        record.edited_at or datetime.min.replace(tzinfo=UTC),
        record.update_id if record.update_id is not None else _NO_UPDATE,
    )


def newest_versions(records: Sequence[MessageRecord]) -> list[MessageRecord]:
    """Each message once, its newest version, in id order (one statement may not touch a row
    twice; id order locks rows alike in every batch)."""
    newest: dict[int, MessageRecord] = {}
    for record in records:
        kept = newest.get(record.id)
        if kept is None or _version(record) >= _version(kept):
            newest[record.id] = record
    return [newest[key] for key in sorted(newest)]


async def upsert_messages(session: AsyncSession, records: Sequence[MessageRecord]) -> int:
    """New messages and newer versions in one statement; a repeated or older version changes
    nothing. How many rows changed."""
    rows = [
        {
            "id": r.id,
            "project_id": r.project_id,
            "update_id": r.update_id,
            "author_name": r.author.display_name,
            "text": r.text,
            "sent_at": r.sent_at,
            "edited_at": r.edited_at,
        }
        for r in newest_versions(records)
    ]
    if not rows:
        return 0
    stmt = insert(MessageRow).values(rows)
    incoming = tuple_(
        func.coalesce(stmt.excluded.edited_at, _NEVER),
        func.coalesce(stmt.excluded.update_id, _NO_UPDATE),
    )
    stored = tuple_(
        func.coalesce(MessageRow.edited_at, _NEVER),
        func.coalesce(MessageRow.update_id, _NO_UPDATE),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[MessageRow.id],
        set_={name: stmt.excluded[name] for name in rows[0] if name != "id"},
        where=incoming > stored,
    ).returning(MessageRow.id)
    return len((await session.execute(stmt)).all())


async def of_project(
    session: AsyncSession, project_id: int, ids: Sequence[int]
) -> list[MessageRow]:
    """The project's messages among `ids`, in (sent_at, id) order; ids not (yet) in the read
    model are simply absent."""
    if not ids:
        return []
    stmt = (
        select(MessageRow)
        .where(MessageRow.project_id == project_id, MessageRow.id.in_(list(ids)))
        .order_by(MessageRow.sent_at, MessageRow.id)
    )
    return list((await session.execute(stmt)).scalars())

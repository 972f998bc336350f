"""The message read model: batch upserts that keep the newest version of each message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import MessageRecord
from tasktracker.review.db.models import MessageRow

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


# One statement whatever the batch size: the rows travel as seven arrays (`unnest`), so
# neither SQLAlchemy nor PostgreSQL compiles a statement with thousands of parameters (and
# asyncpg's limit of 32,767 is never reached). A repeated or older version matches no row of
# the conditional update.
_UPSERT = text(
    """
    INSERT INTO messages (id, project_id, update_id, author_name, text, sent_at, edited_at)
    SELECT * FROM unnest(
        CAST(:id AS bigint[]), CAST(:project_id AS bigint[]), CAST(:update_id AS bigint[]),
        CAST(:author_name AS text[]), CAST(:text AS text[]),
        CAST(:sent_at AS timestamptz[]), CAST(:edited_at AS timestamptz[]))
    ON CONFLICT (id) DO UPDATE SET
        project_id = excluded.project_id, update_id = excluded.update_id,
        author_name = excluded.author_name, text = excluded.text,
        sent_at = excluded.sent_at, edited_at = excluded.edited_at
    WHERE (coalesce(excluded.edited_at, '-infinity'), coalesce(excluded.update_id, -1))
        > (coalesce(messages.edited_at, '-infinity'), coalesce(messages.update_id, -1))
    RETURNING id
    """
)


async def upsert_messages(session: AsyncSession, records: Sequence[MessageRecord]) -> int:
    """New messages and newer versions in one statement; a repeated or older version changes
    nothing. How many rows changed."""
    newest = newest_versions(records)
    if not newest:
        return 0
    params = {
        "id": [r.id for r in newest],
        "project_id": [r.project_id for r in newest],
        "update_id": [r.update_id for r in newest],
        "author_name": [r.author.display_name for r in newest],
        "text": [r.text for r in newest],
        "sent_at": [r.sent_at for r in newest],
        "edited_at": [r.edited_at for r in newest],
    }
    return len((await session.execute(_UPSERT, params)).all())


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

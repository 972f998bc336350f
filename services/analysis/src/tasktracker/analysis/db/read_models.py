"""The read models: messages (newest version wins), project settings (newest event wins),
approved knowledge (insert once). Every write is an idempotent multi-row upsert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.analysis.db.models import ChatMessage, KnowledgeRow, ProjectSettingsRow
from tasktracker.contracts.events import MessageRecord, ProjectSettings

_NO_UPDATE = -1


def _version(record: MessageRecord) -> tuple[datetime, int]:
    """How ingestion orders versions of a message: (edited_at, update_id), original first."""
    return (
        record.edited_at or datetime.min.replace(tzinfo=UTC),
        record.update_id if record.update_id is not None else _NO_UPDATE,
    )


# One statement whatever the batch size: the rows travel as ten arrays (`unnest`), so
# neither SQLAlchemy nor PostgreSQL compiles a statement with thousands of parameters (and
# asyncpg's limit of 32,767 is never reached). A repeated or older version matches no row of
# the conditional update.
_UPSERT_MESSAGES = text(
    """
    INSERT INTO messages (id, project_id, chat_id, update_id, author_name, author_username,
                          author_telegram_id, text, sent_at, edited_at)
    SELECT * FROM unnest(
        CAST(:id AS bigint[]), CAST(:project_id AS bigint[]), CAST(:chat_id AS bigint[]),
        CAST(:update_id AS bigint[]), CAST(:author_name AS text[]),
        CAST(:author_username AS text[]), CAST(:author_telegram_id AS bigint[]),
        CAST(:text AS text[]), CAST(:sent_at AS timestamptz[]),
        CAST(:edited_at AS timestamptz[]))
    ON CONFLICT (id) DO UPDATE SET
        project_id = excluded.project_id, chat_id = excluded.chat_id,
        update_id = excluded.update_id, author_name = excluded.author_name,
        author_username = excluded.author_username,
        author_telegram_id = excluded.author_telegram_id, text = excluded.text,
        sent_at = excluded.sent_at, edited_at = excluded.edited_at
    WHERE (coalesce(excluded.edited_at, '-infinity'), coalesce(excluded.update_id, -1))
        > (coalesce(messages.edited_at, '-infinity'), coalesce(messages.update_id, -1))
    """
)


async def upsert_messages(session: AsyncSession, records: Sequence[MessageRecord]) -> None:
    newest: dict[int, MessageRecord] = {}
    for record in records:
        kept = newest.get(record.id)
        if kept is None or _version(record) >= _version(kept):
            newest[record.id] = record
    if not newest:
        return
    rows = [newest[key] for key in sorted(newest)]  # id order: no deadlock
    # Column by column: a batch of 200 builds ten lists, not 200 row dicts to transpose.
    params = {
        "id": [r.id for r in rows],
        "project_id": [r.project_id for r in rows],
        "chat_id": [r.chat_id for r in rows],
        "update_id": [r.update_id for r in rows],
        "author_name": [r.author.display_name for r in rows],
        "author_username": [r.author.username for r in rows],
        "author_telegram_id": [r.author.telegram_user_id for r in rows],
        "text": [r.text for r in rows],
        "sent_at": [r.sent_at for r in rows],
        "edited_at": [r.edited_at for r in rows],
    }
    await session.execute(_UPSERT_MESSAGES, params)


async def upsert_settings(
    session: AsyncSession, items: Sequence[tuple[int, ProjectSettings, datetime]]
) -> None:
    """(project_id, settings, occurred_at): the newest event of each project wins."""
    newest: dict[int, tuple[ProjectSettings, datetime]] = {}
    for project_id, settings, occurred_at in items:
        if project_id not in newest or occurred_at >= newest[project_id][1]:
            newest[project_id] = (settings, occurred_at)
    if not newest:
        return
    rows = [
        {"project_id": pid, **settings.model_dump(), "occurred_at": occurred_at}
        for pid, (settings, occurred_at) in sorted(newest.items())
    ]
    stmt = insert(ProjectSettingsRow).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ProjectSettingsRow.project_id],
        set_={name: stmt.excluded[name] for name in rows[0] if name != "project_id"},
        where=stmt.excluded.occurred_at >= ProjectSettingsRow.occurred_at,
    )
    await session.execute(stmt)


async def add_knowledge(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Rows of `KnowledgeRow`; a repeated event changes nothing."""
    if rows:
        await session.execute(insert(KnowledgeRow).values(list(rows)).on_conflict_do_nothing())


async def project_settings(session: AsyncSession, project_id: int) -> ProjectSettingsRow | None:
    return await session.get(ProjectSettingsRow, project_id)


async def window(
    session: AsyncSession, project_id: int, start: datetime, end: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """(id, sent_at) of the project's messages sent in [start, end)."""
    stmt = (
        select(ChatMessage.id, ChatMessage.sent_at)
        .where(
            ChatMessage.project_id == project_id,
            ChatMessage.sent_at >= start,
            ChatMessage.sent_at < end,
        )
        .order_by(ChatMessage.sent_at, ChatMessage.id)
        .limit(limit)
    )
    return [(row.id, row.sent_at) for row in (await session.execute(stmt)).all()]


async def messages(session: AsyncSession, ids: Sequence[int]) -> list[ChatMessage]:
    stmt = (
        select(ChatMessage)
        .where(ChatMessage.id.in_(list(ids)))
        .order_by(ChatMessage.sent_at, ChatMessage.id)
    )
    return list((await session.execute(stmt)).scalars())


async def members(session: AsyncSession, project_id: int) -> list[str]:
    """The chat members the project's messages show, by Telegram username."""
    stmt = (
        select(ChatMessage.author_username)
        .where(ChatMessage.project_id == project_id, ChatMessage.author_username.is_not(None))
        .distinct()
        .order_by(ChatMessage.author_username)
    )
    return [name for name in (await session.execute(stmt)).scalars() if name]


async def knowledge(session: AsyncSession, project_id: int, limit: int = 200) -> list[KnowledgeRow]:
    stmt = (
        select(KnowledgeRow)
        .where(KnowledgeRow.project_id == project_id)
        .order_by(KnowledgeRow.kind.desc(), KnowledgeRow.item_id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())

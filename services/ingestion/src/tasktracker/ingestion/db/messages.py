"""Users, Telegram profiles and messages: idempotent upserts and project-scoped reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, TextClause, case, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.events import MessageAuthor, MessageRecord
from tasktracker.ingestion import domain
from tasktracker.ingestion.db.models import Message, TelegramProfile, User
from tasktracker.ingestion.domain import Author, IncomingMessage


async def upsert_authors(
    session: AsyncSession, authors: Sequence[tuple[domain.TelegramProfile, datetime]]
) -> dict[int, int]:
    """Insert or refresh the authors' users and Telegram profiles (two statements); their
    user ids by Telegram user id. Data older than what is stored (a late retry) does not
    overwrite it.

    An account appears once per statement (PostgreSQL refuses an `ON CONFLICT DO UPDATE`
    touching one row twice): its newest sighting wins, the later one on a tie, as when they
    are stored one after the other. Rows go in Telegram user id order, so two concurrent
    batches lock them in the same order."""
    newest: dict[int, tuple[domain.TelegramProfile, datetime]] = {}
    for profile, seen_at in authors:
        known = newest.get(profile.telegram_user_id)
        if known is None or seen_at >= known[1]:
            newest[profile.telegram_user_id] = (profile, seen_at)
    if not newest:
        return {}
    ordered = [newest[key] for key in sorted(newest)]
    users = [
        {
            "identity": f"telegram:{p.telegram_user_id}",
            "display_name": p.display_name,
            "seen_at": seen_at,
        }
        for p, seen_at in ordered
    ]
    user_ids = {
        int(identity.removeprefix("telegram:")): user_id
        for user_id, identity in await session.execute(_UPSERT_USER, users)
    }
    profiles = [
        {
            "telegram_user_id": p.telegram_user_id,
            "user_id": user_ids[p.telegram_user_id],
            **_profile_fields(p, seen_at),
        }
        for p, seen_at in ordered
    ]
    await session.execute(_UPSERT_PROFILE, profiles)
    return user_ids


def _upsert_user_statement() -> Any:
    table = User.__table__
    user = insert(table)
    newer = user.excluded.seen_at >= table.c.seen_at
    return user.on_conflict_do_update(
        index_elements=[table.c.identity],
        set_={
            "display_name": case((newer, user.excluded.display_name), else_=table.c.display_name),
            "seen_at": func.greatest(table.c.seen_at, user.excluded.seen_at),
            "updated_at": case((newer, func.now()), else_=table.c.updated_at),
        },
    ).returning(table.c.id, table.c.identity)


PROFILE_FIELDS = (
    "first_name", "last_name", "username", "language_code", "is_bot", "is_premium", "seen_at",
)  # fmt: skip


def _upsert_profile_statement() -> Any:
    table = TelegramProfile.__table__
    account = insert(table)
    return account.on_conflict_do_update(
        index_elements=[table.c.telegram_user_id],
        set_={
            **{name: account.excluded[name] for name in PROFILE_FIELDS},
            "updated_at": func.now(),
        },
        where=account.excluded.seen_at >= table.c.seen_at,
    )


_UPSERT_USER = _upsert_user_statement()
_UPSERT_PROFILE = _upsert_profile_statement()


def _profile_fields(profile: domain.TelegramProfile, seen_at: datetime) -> dict[str, Any]:
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "username": profile.username,
        "language_code": profile.language_code,
        "is_bot": profile.is_bot,
        "is_premium": profile.is_premium,
        "seen_at": seen_at,
    }


MessageKey = tuple[int, int, int]  # (project_id, chat_id, message_id)


def version(message: IncomingMessage) -> tuple[datetime, int]:
    """What orders versions of a message, as `upsert_messages` compares them (no edit date
    sorts first)."""
    update_id = -1 if message.update_id is None else message.update_id
    return (message.edited_at or datetime.min.replace(tzinfo=UTC), update_id)


async def upsert_messages(
    session: AsyncSession,
    versions: Sequence[tuple[int, IncomingMessage, int | None, str]],
) -> dict[MessageKey, MessageRecord]:
    """Store new messages or apply newer versions of them, `(project_id, message, user_id,
    raw)` (`raw`: the update's JSON text) in one statement, in the given order (new row ids
    follow it); the records of those stored or changed, by key. Each message must appear
    once (its newest version, see `version`).

    Versions are ordered by (edited_at, update_id): the original has no edit date, a later
    edit has a later one, and update ids (sequential per bot) break ties within a second. A
    repeated or older update matches no row in the conditional update, so it changes nothing
    — also when two deliveries race, since the database serialises them on the unique key.
    """
    if not versions:
        return {}
    authors = [message_author(m.author, user_id) for _, m, user_id, _ in versions]
    params = message_arrays(
        (project_id, message, user_id, author.model_dump_json(), raw)
        for (project_id, message, user_id, raw), author in zip(versions, authors, strict=True)
    )
    written = {
        (project_id, chat_id, message_id): row_id
        for row_id, project_id, chat_id, message_id in await session.execute(
            _UPSERT_MESSAGES, params
        )
    }
    records = {}
    for (project_id, message, _, _), author in zip(versions, authors, strict=True):
        key = (project_id, message.chat_id, message.message_id)
        if key in written:
            records[key] = written_record(written[key], project_id, message, author)
    return records


def written_record(
    row_id: int, project_id: int, message: IncomingMessage, author: MessageAuthor
) -> MessageRecord:
    """What `to_record` reads back from the row, from what was written into it."""
    return MessageRecord(
        id=row_id,
        project_id=project_id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        update_id=message.update_id,
        author=author,
        text=message.text,
        kind=message.kind,
        sent_at=message.sent_at,
        edited_at=message.edited_at,
        reply_to_message_id=message.reply_to_message_id,
        forwarded_from=message.forwarded_from,
    )


# What a `MessageRecord` is made of: every column but `raw`, the whole update, which is the
# largest one and was decoded from JSONB for each row read or stored only to be dropped.
RECORD_COLUMNS = tuple(
    Message.__table__.c[name]
    for name in (
        "id", "project_id", "chat_id", "message_id", "update_id", "author", "text", "kind",
        "sent_at", "edited_at", "reply_to_message_id", "forwarded_from",
    )
)  # fmt: skip

# The columns of a message row an upsert writes, in `unnest_upsert`'s order.
ROW_COLUMNS = (
    "project_id", "chat_id", "message_id", "update_id", "user_id", "author", "text", "kind",
    "sent_at", "edited_at", "reply_to_message_id", "forwarded_from", "raw",
)  # fmt: skip
# (project_id, message, user_id, author, raw); `author` and `raw` as JSON text.
RowValues = tuple[int, IncomingMessage, int | None, str, str]


def message_arrays(rows: Iterable[RowValues]) -> dict[str, list[Any]]:
    """An `unnest_upsert`'s parameters: each column's values in the rows' order. Column by
    column and JSON as text, SQLAlchemy neither processes a bind per row nor encodes JSON."""
    arrays: dict[str, list[Any]] = {name: [] for name in ROW_COLUMNS}
    for project_id, message, user_id, author, raw in rows:
        arrays["project_id"].append(project_id)
        arrays["chat_id"].append(message.chat_id)
        arrays["message_id"].append(message.message_id)
        arrays["update_id"].append(message.update_id)
        arrays["user_id"].append(user_id)
        arrays["author"].append(author)
        arrays["text"].append(message.text)
        arrays["kind"].append(str(message.kind))
        arrays["sent_at"].append(message.sent_at)
        arrays["edited_at"].append(message.edited_at)
        arrays["reply_to_message_id"].append(message.reply_to_message_id)
        arrays["forwarded_from"].append(message.forwarded_from)
        arrays["raw"].append(raw)
    return arrays


def unnest_upsert(newer: str, returning: str) -> TextClause:
    """One statement whatever the batch size, the rows sent as arrays (`message_arrays`) and
    inserted in their order (new row ids follow it). A stored message takes the incoming
    version only where `newer` holds (SQL over `excluded` and `messages`)."""
    return text(
        f"""
        INSERT INTO messages (project_id, chat_id, message_id, update_id, user_id, author,
                              text, kind, sent_at, edited_at, reply_to_message_id,
                              forwarded_from, raw)
        SELECT v.project_id, v.chat_id, v.message_id, v.update_id, v.user_id,
               CAST(v.author AS jsonb), v.text, v.kind, v.sent_at, v.edited_at,
               v.reply_to_message_id, v.forwarded_from, CAST(v.raw AS jsonb)
        FROM unnest(
            CAST(:project_id AS bigint[]), CAST(:chat_id AS bigint[]),
            CAST(:message_id AS bigint[]), CAST(:update_id AS bigint[]),
            CAST(:user_id AS bigint[]), CAST(:author AS text[]), CAST(:text AS text[]),
            CAST(:kind AS text[]), CAST(:sent_at AS timestamptz[]),
            CAST(:edited_at AS timestamptz[]), CAST(:reply_to_message_id AS bigint[]),
            CAST(:forwarded_from AS text[]), CAST(:raw AS text[])
        ) WITH ORDINALITY AS v(project_id, chat_id, message_id, update_id, user_id, author,
                               text, kind, sent_at, edited_at, reply_to_message_id,
                               forwarded_from, raw, position)
        ORDER BY v.position
        ON CONFLICT ON CONSTRAINT uq_messages_chat_message DO UPDATE SET
            update_id = excluded.update_id, user_id = excluded.user_id,
            author = excluded.author, text = excluded.text, kind = excluded.kind,
            sent_at = excluded.sent_at, edited_at = excluded.edited_at,
            reply_to_message_id = excluded.reply_to_message_id,
            forwarded_from = excluded.forwarded_from, raw = excluded.raw, updated_at = now()
        WHERE {newer}
        RETURNING {returning}
        """
    )


# An update's version: (edited_at, update_id), see `version`.
_UPSERT_MESSAGES = unnest_upsert(
    "(coalesce(excluded.edited_at, '-infinity'), excluded.update_id)"
    " > (coalesce(messages.edited_at, '-infinity'), messages.update_id)",
    "id, project_id, chat_id, message_id",
)


def message_author(author: Author, user_id: int | None) -> MessageAuthor:
    """What the `author` column holds."""
    return MessageAuthor(
        user_id=user_id,
        telegram_user_id=author.profile.telegram_user_id if author.profile else None,
        display_name=author.display_name,
        username=author.username,
        is_bot=author.is_bot,
    )


def to_record(row: Row[Any]) -> MessageRecord:
    """The record of a row of `RECORD_COLUMNS`."""
    return MessageRecord(
        id=row.id,
        project_id=row.project_id,
        chat_id=row.chat_id,
        message_id=row.message_id,
        update_id=row.update_id,
        author=MessageAuthor.model_validate(row.author),
        text=row.text,
        kind=MessageKind(row.kind),
        sent_at=row.sent_at,
        edited_at=row.edited_at,
        reply_to_message_id=row.reply_to_message_id,
        forwarded_from=row.forwarded_from,
    )


async def get_message(session: AsyncSession, project_id: int, message_id: int) -> Row[Any] | None:
    stmt = select(*RECORD_COLUMNS).where(Message.id == message_id, Message.project_id == project_id)
    return (await session.execute(stmt)).first()


async def list_messages(
    session: AsyncSession,
    project_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
    chat_id: int | None,
    limit: int,
    newest_first: bool = False,
) -> list[Row[Any]]:
    """Messages (rows of `RECORD_COLUMNS`) in (sent_at, id) order, or its reverse; `after` is
    the keyset position of the last one seen (in the order asked for)."""
    stmt = select(*RECORD_COLUMNS).where(Message.project_id == project_id)
    if since is not None:
        stmt = stmt.where(Message.sent_at >= since)
    if until is not None:
        stmt = stmt.where(Message.sent_at < until)
    if chat_id is not None:
        stmt = stmt.where(Message.chat_id == chat_id)
    position = tuple_(Message.sent_at, Message.id)
    if newest_first:
        if after is not None:
            stmt = stmt.where(position < tuple_(*after))
        stmt = stmt.order_by(Message.sent_at.desc(), Message.id.desc())
    else:
        if after is not None:
            stmt = stmt.where(position > tuple_(*after))
        stmt = stmt.order_by(Message.sent_at, Message.id)
    stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).all())

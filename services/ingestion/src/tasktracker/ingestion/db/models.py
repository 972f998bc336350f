"""Tables of the ingestion service's own database.

Idempotency lives in the unique keys: a chat message is `(project_id, chat_id, message_id)`,
a parked update `(chat_id, update_id)`, a Telegram account `telegram_user_id`, its user
`identity`. Writers use `INSERT … ON CONFLICT` against these keys, so the database decides
every race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import BYTEA, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasktracker.servicekit.outbox import outbox_table

# Ranges of the per-project settings; the API validates them, the table enforces them.
BATCH_GAP_MINUTES = (1, 24 * 60)
BATCH_MAX_MESSAGES = (1, 1000)
ANALYSIS_CONCURRENCY = (1, 16)


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _between(column: str, bounds: tuple[int, int]) -> CheckConstraint:
    low, high = bounds
    return CheckConstraint(f"{column} BETWEEN {low} AND {high}", name=f"ck_projects_{column}")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        _between("batch_gap_minutes", BATCH_GAP_MINUTES),
        _between("batch_max_messages", BATCH_MAX_MESSAGES),
        _between("analysis_concurrency", ANALYSIS_CONCURRENCY),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    batch_gap_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="10")
    batch_max_messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default="50")
    analysis_concurrency: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ChatBinding(Base):
    """A Telegram chat routed to a project. The primary key makes a chat belong to one."""

    __tablename__ = "chat_bindings"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    title: Mapped[str | None] = mapped_column(Text)
    bound_by: Mapped[str | None] = mapped_column(Text)
    bound_at: Mapped[datetime] = _now()


class User(Base):
    """A person. `identity` is their natural key, e.g. `telegram:12345`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    identity: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    # When the data last came from: an older update arriving late never overwrites it.
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class TelegramProfile(Base):
    """A user's Telegram account. Deliberately no avatar or file URLs: those embed the bot
    token."""

    __tablename__ = "telegram_profiles"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id"), nullable=False, unique=True
    )
    first_name: Mapped[str] = mapped_column(Text, nullable=False)
    last_name: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(Text)
    language_code: Mapped[str | None] = mapped_column(Text)
    is_bot: Mapped[bool] = mapped_column(nullable=False, server_default=text("false"))
    is_premium: Mapped[bool] = mapped_column(nullable=False, server_default=text("false"))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = _now()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("project_id", "chat_id", "message_id", name="uq_messages_chat_message"),
        Index("ix_messages_project_sent", "project_id", "sent_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    message_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The update whose content is stored; with edited_at it orders versions of the message.
    # NULL for a message stored from a history import: no update carried it, and a webhook
    # update then replaces it only with a strictly newer edit (a row comparison with NULL is
    # not true).
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    author: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger)
    forwarded_from: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ParkedUpdate(Base):
    """An update from a chat bound to no project, kept until the chat is bound."""

    __tablename__ = "parked_updates"
    __table_args__ = (
        UniqueConstraint("chat_id", "update_id", name="uq_parked_chat_update"),
        Index(
            "ix_parked_waiting",
            "chat_id",
            "update_id",
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chat_title: Mapped[str | None] = mapped_column(Text)
    update_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    update_kind: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = _now()
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_to_project_id: Mapped[int | None] = mapped_column(BigInteger)


class SkippedUpdate(Base):
    """An update not stored: of a kind ingestion doesn't store (reactions, member changes...),
    or unusable (`reason`: a message without a chat, an id beyond 64 bits...). `update_id` is
    numeric so that even an update id beyond 64 bits is recorded, not lost."""

    __tablename__ = "skipped_updates"

    update_id: Mapped[int] = mapped_column(Numeric(asdecimal=False), primary_key=True)
    update_kind: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = _now()


class BindCode(Base):
    """A one-time code a project admin posts in a chat to bind it; only its hash is kept."""

    __tablename__ = "bind_codes"

    digest: Mapped[str] = mapped_column(Text, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_chat_id: Mapped[int | None] = mapped_column(BigInteger)


IMPORT_STATUSES = ("queued", "running", "completed", "failed")


class Import(Base):
    """A chat history import: the uploaded export (kept until it is done), its progress and
    where it resumes (`cursor`: the index in the export's `messages` of the next one)."""

    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')", name="ck_imports_status"
        ),
        CheckConstraint("cursor BETWEEN 0 AND total", name="ck_imports_cursor"),
        Index("ix_imports_project_id", "project_id", "id"),
        Index(
            "uq_imports_unfinished_file",
            "project_id",
            "file_sha256",
            unique=True,
            postgresql_where=text("status <> 'completed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chat_title: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    file_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    file: Mapped[bytes | None] = mapped_column(BYTEA, deferred=True)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    cursor: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    stored: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

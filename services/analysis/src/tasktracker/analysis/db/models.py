"""Tables of the analysis service's own database: read models (messages, approved knowledge,
project settings), runs, their committed batches and their proposals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasktracker.contracts.states import UNCLOSED_RUN_STATUSES
from tasktracker.servicekit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)

UNCLOSED_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in sorted(UNCLOSED_RUN_STATUSES)))


class ChatMessage(Base):
    """The read model of ingestion's messages: the newest version of each, by its id."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str] = mapped_column(Text)
    author_username: Mapped[str | None] = mapped_column(Text)
    author_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_messages_project_sent", "project_id", "sent_at", "id"),)


class ProjectSettingsRow(Base):
    """The read model of `ingestion.project_configured`: batching and concurrency."""

    __tablename__ = "project_settings"

    project_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch_gap_minutes: Mapped[int] = mapped_column(Integer)
    batch_max_messages: Mapped[int] = mapped_column(Integer)
    analysis_concurrency: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KnowledgeRow(Base):
    """The read model of the `topics` topic: approved topics (`kind` 'topic') and atoms."""

    __tablename__ = "knowledge"

    project_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(Text)  # "topic" or "atom"
    item_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)

    __table_args__ = (PrimaryKeyConstraint("project_id", "kind", "item_id"),)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # exclusive
    created_by: Mapped[str] = mapped_column(Text)
    # Fixed when the run starts, so every try of the job cuts the same batches.
    message_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    batch_sizes: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    concurrency: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    batches_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    batches_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    proposals_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # review's tally, as its last decision event carried it
    approved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rejected: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    merged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    model: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # the worker holding the run, until when (renewed while it works)
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    start_requested_by: Mapped[str | None] = mapped_column(Text)
    start_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_runs_project_created", "project_id", "created_at", "id"),
        # At most one unclosed run per project, decided by PostgreSQL (DESIGN.md §4).
        Index(
            "uq_runs_one_unclosed_per_project",
            "project_id",
            unique=True,
            postgresql_where=text(UNCLOSED_SQL),
        ),
    )


class BatchRow(Base):
    """A committed batch: the run's checkpoint. Its key makes a batch commit once."""

    __tablename__ = "run_batches"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id"))
    batch_index: Mapped[int] = mapped_column(Integer)
    message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    proposals: Mapped[int] = mapped_column(Integer)
    dropped_ids: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    committed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (PrimaryKeyConstraint("run_id", "batch_index", name="uq_run_batch"),)


class ProposalRow(Base):
    """A task proposal as analysis made it, and the decision review reported for it."""

    __tablename__ = "proposals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id"))
    project_id: Mapped[int] = mapped_column(BigInteger)
    batch_index: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    assignee: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    confidence: Mapped[float] = mapped_column(Float)
    reasoning: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    edited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # set when a later batch of the run called the work off (proposals_withdrawn)
    withdrawn_in_batch: Mapped[int | None] = mapped_column(Integer)
    withdrawn_by: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))

    __table_args__ = (Index("ix_proposals_run_status", "run_id", "status"),)

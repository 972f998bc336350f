"""Tables of the review service's own database.

`runs` holds each run's tally; the check constraint makes "the counters add up" a rule the
database enforces, whatever the code does. A proposal's `task_id` is the task approving it
created, or the task it was merged into (the link a task's page shows).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasktracker.servicekit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)

PROPOSAL_STATUSES = "'pending', 'approved', 'rejected', 'merged'"
TASK_STATUSES = "'open', 'in_progress', 'done'"


class RunRow(Base):
    """A run as review knows it: its tally, and whether analysis closed it."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    pending: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    approved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rejected: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    merged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "pending >= 0 AND approved >= 0 AND rejected >= 0 AND merged >= 0"
            " AND total = pending + approved + rejected + merged",
            name="ck_runs_tally",
        ),
    )


class ProposalRow(Base):
    __tablename__ = "proposals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("runs.id"))
    batch_index: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    assignee: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    confidence: Mapped[float] = mapped_column(Float)
    reasoning: Mapped[str] = mapped_column(Text, server_default=text("''"))
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    edited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    similar_task_id: Mapped[int | None] = mapped_column(BigInteger)
    similar_task_score: Mapped[float | None] = mapped_column(Float)
    similar_proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    similar_proposal_score: Mapped[float | None] = mapped_column(Float)
    task_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tasks.id"))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"status IN ({PROPOSAL_STATUSES})", name="ck_proposals_status"),
        Index("ix_proposals_project_created", "project_id", "created_at", "id"),
        Index("ix_proposals_run_status", "run_id", "status"),
        Index("ix_proposals_task", "task_id"),
    )


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    assignee: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"status IN ({TASK_STATUSES})", name="ck_tasks_status"),
        Index("ix_tasks_project_id", "project_id", "id"),
    )


class MessageRow(Base):
    """The read model of ingestion's messages (the source texts a reviewer reads): the newest
    version of each, by its id."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

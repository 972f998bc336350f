"""Tables of the knowledge service's own database."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasktracker.servicekit.outbox import outbox_table


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)


class ChatMessage(Base):
    """The read model of ingestion's messages: the newest version of each, by its id."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_messages_project_sent", "project_id", "sent_at", "id"),)


class ExtractionRow(Base):
    __tablename__ = "extractions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)  # pending, running, completed, failed
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # exclusive
    requested_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    # The messages taken, fixed when the job starts, so that every try chunks them alike.
    message_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    message_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunks_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    chunks_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    topic_proposals: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    atom_proposals: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    model: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_extractions_project_created", "project_id", "created_at"),)


class ProposalRow(Base):
    """A proposed topic (`kind` = 'topic') or atom (`kind` = its atom kind)."""

    __tablename__ = "proposals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    extraction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("extractions.id"))
    chunk_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    title: Mapped[str] = mapped_column(Text)  # a topic's name, an atom's title
    name_key: Mapped[str | None] = mapped_column(Text)  # topics: name without case/space
    content: Mapped[str] = mapped_column(Text)  # a topic's description, an atom's content
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    topic_name: Mapped[str | None] = mapped_column(Text)
    topic_proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    confidence: Mapped[float | None] = mapped_column(Float)
    edited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_id: Mapped[int | None] = mapped_column(BigInteger)  # the topic or atom made of it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_proposals_project_created", "project_id", "created_at", "id"),
        # One pending topic proposal per name: a twin attaches to it instead.
        Index(
            "uq_proposals_pending_topic_name",
            "project_id",
            "name_key",
            unique=True,
            postgresql_where=text("kind = 'topic' AND status = 'pending'"),
        ),
    )


class TopicRow(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text))
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("project_id", "name_key", name="uq_topics_name"),)


class AtomRow(Base):
    __tablename__ = "atoms"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(BigInteger)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id"))
    kind: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    source_message_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    confidence: Mapped[float | None] = mapped_column(Float)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_atoms_project_topic", "project_id", "topic_id", "id"),)

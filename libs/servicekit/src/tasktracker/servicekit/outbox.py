"""The transactional outbox: events are rows written in the state change's transaction.

`Outbox.stage()` inserts the event's envelope into the service's `outbox` table inside the
caller's session and queues a NOTIFY, which PostgreSQL delivers only if the transaction
commits — so a rolled-back change leaves neither a row nor a wake-up. `OutboxRelay`
(relay.py) publishes the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import EventPayload, make_envelope
from tasktracker.servicekit.tracing import current_carrier

OUTBOX_TABLE = "outbox"
NOTIFY_CHANNEL = "outbox"
PRUNING_INDEX = "ix_outbox_published_brin"  # the relay finds rows to prune by it


def outbox_columns() -> list[Column]:
    """Fresh column objects, for the service's MetaData and its first migration alike."""
    return [
        Column("seq", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        # Set when the row can never be published (too large, bad subject): the relay skips it.
        Column("failed_at", DateTime(timezone=True), nullable=True),
    ]


def outbox_table(metadata: MetaData) -> Table:
    table = Table(OUTBOX_TABLE, metadata, *outbox_columns())
    Index(
        "ix_outbox_unpublished",
        table.c.seq,
        postgresql_where=table.c.published_at.is_(None) & table.c.failed_at.is_(None),
    )
    # For the relay's pruning of rows published a day ago (`create_outbox_pruning_index`).
    Index(PRUNING_INDEX, table.c.published_at, postgresql_using="brin")
    return table


class Outbox:
    """Stages events of one producer into its service's outbox table."""

    def __init__(self, table: Table, producer: str) -> None:
        self._table = table
        self._producer = producer
        # The rows as three arrays (no per-row bind processing), inserted in their order (seq
        # follows the ordinality), and the NOTIFY that wakes the relay: one round trip.
        self._stage_rows = text(
            f"""
            WITH staged AS (
                INSERT INTO {table.name} (event_id, subject, payload)
                SELECT v.event_id, v.subject, v.payload
                FROM unnest(
                    CAST(:event_ids AS uuid[]), CAST(:subjects AS text[]),
                    CAST(:payloads AS bytea[])
                ) WITH ORDINALITY AS v(event_id, subject, payload, position)
                ORDER BY v.position
                RETURNING 1
            )
            SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM (SELECT count(*) FROM staged) AS s
            """
        )

    async def stage(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        project_id: int,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        envelope = make_envelope(
            payload,
            project_id=project_id,
            producer=self._producer,
            occurred_at=occurred_at,
            id=event_id,
            trace_context=current_carrier(),  # the trace of whatever causes the event
        )
        await session.execute(
            insert(self._table).values(
                event_id=envelope.id,
                subject=envelope.subject,
                payload=envelope.to_bytes(),
            )
        )
        await notify(session)
        return envelope

    async def stage_many(
        self, session: AsyncSession, events: Sequence[tuple[EventPayload, int]]
    ) -> list[Envelope]:
        """Stage `(payload, project_id)` events in the given order (`seq` follows it) with
        one round trip, and one NOTIFY."""
        trace_context = current_carrier()
        envelopes = [
            make_envelope(
                payload, project_id=project_id, producer=self._producer, trace_context=trace_context
            )
            for payload, project_id in events
        ]
        if envelopes:
            await session.execute(
                self._stage_rows,
                {
                    "event_ids": [e.id for e in envelopes],
                    "subjects": [e.subject for e in envelopes],
                    "payloads": [e.to_bytes() for e in envelopes],
                },
            )
        return envelopes


async def notify(session: AsyncSession) -> None:
    """Wake the relay when (and only if) the transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def create_outbox_table(op: object) -> None:
    """For a service's first Alembic migration: `create_outbox_table(op)`."""
    op.create_table(OUTBOX_TABLE, *outbox_columns())  # type: ignore[attr-defined]
    op.create_index(  # type: ignore[attr-defined]
        "ix_outbox_unpublished",
        OUTBOX_TABLE,
        ["seq"],
        postgresql_where=text("published_at IS NULL AND failed_at IS NULL"),
    )


def create_outbox_pruning_index(op: object) -> None:
    """For the migration that adds it: the BRIN index the relay prunes published rows by."""
    op.create_index(  # type: ignore[attr-defined]
        PRUNING_INDEX, OUTBOX_TABLE, ["published_at"], postgresql_using="brin"
    )


def drop_outbox_pruning_index(op: object) -> None:
    """That migration's downgrade."""
    op.drop_index(PRUNING_INDEX, table_name=OUTBOX_TABLE)  # type: ignore[attr-defined]

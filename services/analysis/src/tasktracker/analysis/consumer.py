"""The read models' consumers: servicekit's `BatchConsumer` (durable pull consumers)
on `space.*.messages.>`, `space.*.topics.>` and `space.*.proposals.>`, a batch per fetch
stored in one transaction and acknowledged after the commit.

Only the event types each store uses are decoded; the rest of the subject is acknowledged
unread. Outage backoff, poison events and acknowledgement live in servicekit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.analysis import lifecycle
from tasktracker.analysis.db import read_models
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import (
    AtomCreated,
    EventPayload,
    MessageUpdated,
    ProjectConfigured,
    ProposalApproved,
    ProposalMerged,
    ProposalRejected,
    TopicCreated,
)
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.servicekit.consumers import (
    BatchConsumer,
    ConsumerOptions,
    EventConsumers,
    Handler,
)
from tasktracker.servicekit.runtime import ServiceRuntime

Events = list[Envelope[EventPayload]]


async def store_messages(session: AsyncSession, events: Events) -> None:
    await read_models.upsert_messages(
        session, [e.data.message for e in events if isinstance(e.data, MessageUpdated)]
    )
    await read_models.upsert_settings(
        session,
        [
            (e.project_id, e.data.settings, e.occurred_at)
            for e in events
            if isinstance(e.data, ProjectConfigured)
        ],
    )


async def store_knowledge(session: AsyncSession, events: Events) -> None:
    rows: dict[tuple[int, str, int], dict[str, object]] = {}  # one row per key per statement
    for envelope in events:
        payload = envelope.data
        if isinstance(payload, TopicCreated):
            key = (envelope.project_id, "topic", payload.topic_id)
            rows[key] = {"title": payload.name, "content": payload.description}
        elif isinstance(payload, AtomCreated):
            key = (envelope.project_id, "atom", payload.atom_id)
            rows[key] = {"title": payload.title, "content": payload.content}
    await read_models.add_knowledge(
        session,
        [
            {"project_id": project, "kind": kind, "item_id": item, **values}
            for (project, kind, item), values in rows.items()
        ],
    )


async def store_decisions(session: AsyncSession, events: Events) -> None:
    await lifecycle.apply_decisions(
        session,
        [
            e.data
            for e in events
            if isinstance(e.data, ProposalApproved | ProposalRejected | ProposalMerged)
        ],
    )


def build_consumers(settings: AnalysisSettings, runtime: ServiceRuntime) -> EventConsumers:
    def consumer(
        topic: Topic,
        durable: str,
        wanted: Sequence[type[EventPayload]],
        store: Handler,
        linger_seconds: float = 0.0,
    ) -> BatchConsumer:
        options = ConsumerOptions(
            durable=durable,
            subject=space_filter(None, topic),
            event_types=frozenset(t.event_type for t in wanted),
            batch_size=settings.consumer_batch_size,
            fetch_wait_seconds=settings.consumer_batch_timeout_seconds,
            linger_seconds=linger_seconds,
            ack_wait_seconds=settings.consumer_ack_wait_seconds,
            outage_delay_seconds=settings.consumer_outage_delay_seconds,
            outage_max_delay_seconds=settings.consumer_outage_max_delay_seconds,
            start_time=settings.consumers_start_time,
        )
        return BatchConsumer(settings.stream_name, options, store, runtime.consumer_sessions)

    consumers = [
        consumer(
            Topic.messages,
            settings.messages_durable,
            (MessageUpdated, ProjectConfigured),
            store_messages,
            settings.messages_linger_seconds,
        ),
        consumer(
            Topic.topics, settings.knowledge_durable, (TopicCreated, AtomCreated), store_knowledge
        ),
        consumer(
            Topic.proposals,
            settings.decisions_durable,
            (ProposalApproved, ProposalRejected, ProposalMerged),
            store_decisions,
        ),
    ]
    return EventConsumers(
        settings.nats_url,
        f"{settings.service_name}-events",
        consumers,
        **settings.nats_credentials(),
    )

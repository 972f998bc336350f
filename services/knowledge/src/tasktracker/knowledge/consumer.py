"""The message read model's consumer: servicekit's `BatchConsumer` on
`space.*.messages.message.updated`, a batch per fetch stored with one `unnest` upsert in one
transaction (outage backoff, poison events and acknowledgement live in servicekit)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import EventPayload, MessageUpdated
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.knowledge.db import messages
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.consumers import BatchConsumer, ConsumerOptions, EventConsumers
from tasktracker.servicekit.runtime import ServiceRuntime

MESSAGE_UPDATED = space_filter(None, Topic.messages).removesuffix(">") + MessageUpdated.event_type


async def store_messages(session: AsyncSession, events: list[Envelope[EventPayload]]) -> None:
    await messages.upsert_messages(
        session, [e.data.message for e in events if isinstance(e.data, MessageUpdated)]
    )


def build_consumers(settings: KnowledgeSettings, runtime: ServiceRuntime) -> EventConsumers:
    options = ConsumerOptions(
        durable=settings.messages_durable,
        subject=MESSAGE_UPDATED,
        batch_size=settings.messages_batch_size,
        fetch_wait_seconds=settings.messages_batch_timeout_seconds,
        linger_seconds=settings.messages_linger_seconds,
        ack_wait_seconds=settings.messages_ack_wait_seconds,
        outage_delay_seconds=settings.messages_outage_delay_seconds,
        outage_max_delay_seconds=settings.messages_outage_max_delay_seconds,
        start_time=settings.messages_start_time,
    )
    consumer = BatchConsumer(
        settings.stream_name, options, store_messages, runtime.consumer_sessions
    )
    return EventConsumers(
        settings.nats_url,
        f"{settings.service_name}-events",
        [consumer],
        **settings.nats_credentials(),
    )

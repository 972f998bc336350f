"""The message read model's consumer: a durable JetStream pull consumer of
`space.*.messages.message.updated`, a batch per fetch, stored in one transaction.

servicekit's `subscribe_topic` fixes its own `PullSub` (one message per handler call), so the
batch subscriber is declared here; it also passes `declare=False` (DESIGN.md §2).

While the database is unreachable a batch is handed back with a delay that doubles up to
`messages_outage_max_delay_seconds`, and the consumer takes nothing new meanwhile: a plain
`nak` would have JetStream deliver it again at once, spinning as fast as connections fail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import MessageRecord, MessageUpdated
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.knowledge.db import messages
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.events import make_event_broker
from tasktracker.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

MESSAGE_UPDATED = space_filter(None, Topic.messages).removesuffix(">") + MessageUpdated.event_type


class OutageBackoff:
    """The delay before a batch is tried again while the database is away: doubling from
    `base` up to `maximum`, back to `base` once a batch is stored."""

    def __init__(self, base: float, maximum: float) -> None:
        self.base = base
        self.maximum = maximum
        self._failures = 0

    def next_delay(self) -> float:
        self._failures += 1
        return min(self.base * 2 ** (self._failures - 1), self.maximum)

    def reset(self) -> None:
        self._failures = 0


def build_event_broker(settings: KnowledgeSettings, runtime: ServiceRuntime) -> NatsBroker:
    broker = make_event_broker(settings, f"{settings.service_name}-events")
    backoff = OutageBackoff(
        settings.messages_outage_delay_seconds, settings.messages_outage_max_delay_seconds
    )

    @broker.subscriber(
        MESSAGE_UPDATED,
        stream=JStream(settings.stream_name, declare=False),
        durable=settings.messages_durable,
        config=_consumer_config(settings),
        # A failed batch (the database is down) is delivered again, never dropped.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        pull_sub=PullSub(
            batch_size=settings.messages_batch_size,
            timeout=settings.messages_batch_timeout_seconds,
            batch=True,
        ),
    )
    async def on_message_updated(
        bodies: list[Any], message: Annotated[NatsBatchMessage, Context("message")]
    ) -> None:
        records = []
        for body in bodies:
            try:
                records.append(Envelope[MessageUpdated].model_validate(body).data.message)
            except ValidationError as exc:  # not ours to fix: skipped, never retried forever
                log.warning("skipping an invalid message.updated event: %s", exc.errors()[:1])
        try:
            await store(runtime, records)
        except Exception as error:
            if not db.is_database_unavailable(error):
                raise  # handed back at once (NACK_ON_ERROR)
            delay = backoff.next_delay()
            log.warning("read model: database unavailable (%r); again in %.1f s", error, delay)
            await message.nack(delay=delay)
            await asyncio.sleep(delay)  # fetch nothing new while the database is away
            return
        backoff.reset()
        log.debug("read model: %d events stored", len(bodies))

    return broker


def _consumer_config(settings: KnowledgeSettings) -> ConsumerConfig:
    config = ConsumerConfig(max_ack_pending=settings.messages_batch_size * 4)
    if settings.messages_start_time is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = settings.messages_start_time.isoformat()
    return config


async def store(runtime: ServiceRuntime, records: list[MessageRecord]) -> None:
    """One transaction for the batch. If the batch fails for something other than an outage
    (a value PostgreSQL cannot hold), it is stored one message at a time and only the bad
    message is skipped: one poison event must not hold back every later one."""
    try:
        async with db.transaction(runtime.sessions) as session:
            await messages.upsert_messages(session, records)
        return
    except Exception as error:
        if db.is_database_unavailable(error):
            raise
    for record in records:
        try:
            async with db.transaction(runtime.sessions) as session:
                await messages.upsert_messages(session, [record])
        except Exception as error:
            if db.is_database_unavailable(error) or not db.is_data_error(error):
                raise
            log.warning("skipping message %s: PostgreSQL cannot store it (%s)", record.id, error)

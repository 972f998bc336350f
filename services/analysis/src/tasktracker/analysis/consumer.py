"""The read models' consumers: durable JetStream pull consumers of `space.*.messages.>`,
`space.*.topics.>` and `space.*.proposals.>`, a batch per fetch, stored in one transaction.

servicekit's `subscribe_topic` fixes its own `PullSub` (one message per handler call), so the
batch subscribers are declared here; they pass `declare=False` (DESIGN.md §2). Events this
service does not use are acknowledged and skipped; an invalid one is logged and skipped, never
retried forever. A batch that fails (the database is down) is delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import ConsumerConfig, DeliverPolicy
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
    decode_event,
)
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.servicekit import db
from tasktracker.servicekit.events import make_event_broker
from tasktracker.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

Decoded = tuple[Envelope[Any], EventPayload]
Store = Callable[[AsyncSession, list[Decoded]], Awaitable[None]]


def decode(bodies: list[Any], wanted: tuple[type[EventPayload], ...]) -> list[Decoded]:
    decoded: list[Decoded] = []
    for body in bodies:
        try:
            envelope = Envelope.model_validate(body)
            payload = decode_event(envelope)
        except Exception as exc:  # not ours to fix: skipped, never retried forever
            log.warning("skipping an invalid event: %s", exc)
            continue
        if isinstance(payload, wanted):
            decoded.append((envelope, payload))
    return decoded


async def store_messages(session: AsyncSession, events: list[Decoded]) -> None:
    await read_models.upsert_messages(
        session, [p.message for _, p in events if isinstance(p, MessageUpdated)]
    )
    await read_models.upsert_settings(
        session,
        [
            (e.project_id, p.settings, e.occurred_at)
            for e, p in events
            if isinstance(p, ProjectConfigured)
        ],
    )


async def store_knowledge(session: AsyncSession, events: list[Decoded]) -> None:
    rows: dict[tuple[int, str, int], dict[str, object]] = {}  # one row per key per statement
    for envelope, payload in events:
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


async def store_decisions(session: AsyncSession, events: list[Decoded]) -> None:
    await lifecycle.apply_decisions(
        session,
        [
            p
            for _, p in events
            if isinstance(p, ProposalApproved | ProposalRejected | ProposalMerged)
        ],
    )


async def write(runtime: ServiceRuntime, events: list[Decoded], store: Store) -> None:
    """One transaction for the batch; if PostgreSQL refuses it for something other than an
    outage, one event at a time, skipping only the one it cannot store."""
    if not events:
        return
    try:
        async with db.transaction(runtime.sessions) as session:
            await store(session, events)
        return
    except Exception as error:
        if db.is_database_unavailable(error):
            raise
    for event in events:
        try:
            async with db.transaction(runtime.sessions) as session:
                await store(session, [event])
        except Exception as error:
            if db.is_database_unavailable(error) or not db.is_data_error(error):
                raise
            log.warning("skipping event %s: PostgreSQL cannot store it (%s)", event[0].id, error)


def build_event_broker(settings: AnalysisSettings, runtime: ServiceRuntime) -> NatsBroker:
    broker = make_event_broker(settings, f"{settings.service_name}-events")

    def config() -> ConsumerConfig:
        config = ConsumerConfig(max_ack_pending=settings.consumer_batch_size * 4)
        if settings.consumers_start_time is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = settings.consumers_start_time.isoformat()
        return config

    def subscriber(
        topic: Topic, durable: str, wanted: tuple[type[EventPayload], ...], store: Store
    ):
        @broker.subscriber(
            space_filter(None, topic),
            stream=JStream(settings.stream_name, declare=False),
            durable=durable,
            config=config(),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            pull_sub=PullSub(
                batch_size=settings.consumer_batch_size,
                timeout=settings.consumer_batch_timeout_seconds,
                batch=True,
            ),
        )
        async def handle(bodies: list[Any]) -> None:
            await write(runtime, decode(bodies, wanted), store)

        return handle

    subscriber(
        Topic.messages,
        settings.messages_durable,
        (MessageUpdated, ProjectConfigured),
        store_messages,
    )
    subscriber(
        Topic.topics, settings.knowledge_durable, (TopicCreated, AtomCreated), store_knowledge
    )
    subscriber(
        Topic.proposals,
        settings.decisions_durable,
        (ProposalApproved, ProposalRejected, ProposalMerged),
        store_decisions,
    )
    return broker

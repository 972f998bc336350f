"""Review's event consumers: durable JetStream pull consumers, a batch per fetch, stored in one
transaction.

* `space.*.analysis_runs.>`: `proposals_created` (proposals, idempotent by id) and
  `run_closed`; the run's other events are acknowledged and ignored.
* `space.*.messages.message.updated`: the read model of source texts.

servicekit's `subscribe_topic` fixes a one-message `PullSub`, so the batch subscribers are
declared here, with `declare=False` (DESIGN.md §2). A batch PostgreSQL refuses for something
other than an outage is stored one event at a time, so a poison event is skipped alone
instead of stalling the consumer; an outage fails the batch, which is delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.envelope import RawEnvelope
from tasktracker.contracts.events import (
    MessageUpdated,
    RunClosed,
    TaskProposalsCreated,
    decode_event,
)
from tasktracker.contracts.events.registry import InvalidEventError, UnknownEventError
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.review.db import intake, messages
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.events import make_event_broker
from tasktracker.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

ANALYSIS_RUNS = space_filter(None, Topic.analysis_runs)
MESSAGE_UPDATED = space_filter(None, Topic.messages).removesuffix(">") + MessageUpdated.event_type
T = TypeVar("T")


def build_event_broker(settings: ReviewSettings, runtime: ServiceRuntime) -> NatsBroker:
    broker = make_event_broker(settings, f"{settings.service_name}-events")
    similarity = intake.Similarity(settings.similarity_threshold, settings.similarity_max_tasks)

    def batch_subscriber(subject: str, durable: str):
        return broker.subscriber(
            subject,
            stream=JStream(settings.stream_name, declare=False),
            durable=durable,
            config=_consumer_config(settings),
            ack_policy=AckPolicy.NACK_ON_ERROR,  # a failed batch is delivered again
            pull_sub=PullSub(
                batch_size=settings.events_batch_size,
                timeout=settings.events_batch_timeout_seconds,
                batch=True,
            ),
        )

    @batch_subscriber(ANALYSIS_RUNS, settings.runs_durable)
    async def on_analysis_runs(bodies: list[Any]) -> None:
        created: list[tuple[int, TaskProposalsCreated]] = []
        closed: list[tuple[int, RunClosed]] = []
        for body in bodies:
            decoded = _decode(body)
            if decoded is None:
                continue
            project_id, payload = decoded
            if isinstance(payload, TaskProposalsCreated):
                created.append((project_id, payload))
            elif isinstance(payload, RunClosed):
                closed.append((project_id, payload))

        async def write(session: AsyncSession, items: Sequence[tuple[int, Any]]) -> None:
            await intake.store_proposals(
                session, [i for i in items if isinstance(i[1], TaskProposalsCreated)], similarity
            )
            await intake.close_runs(session, [i for i in items if isinstance(i[1], RunClosed)])

        # proposals before closes: a batch holding both of one run stores the proposals first
        await store(runtime, [*created, *closed], write)

    @batch_subscriber(MESSAGE_UPDATED, settings.messages_durable)
    async def on_message_updated(bodies: list[Any]) -> None:
        records = []
        for body in bodies:
            decoded = _decode(body)
            if decoded is not None and isinstance(decoded[1], MessageUpdated):
                records.append(decoded[1].message)
        await store(runtime, records, messages.upsert_messages)

    return broker


def _consumer_config(settings: ReviewSettings) -> ConsumerConfig:
    config = ConsumerConfig(max_ack_pending=settings.events_batch_size * 4)
    if settings.events_since is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = settings.events_since
    return config


def _decode(body: Any) -> tuple[int, Any] | None:
    try:
        envelope = RawEnvelope.model_validate(body)
        return envelope.project_id, decode_event(envelope)
    except (ValidationError, InvalidEventError, UnknownEventError) as exc:
        # not ours to fix: skipped, never retried forever
        log.warning("skipping an invalid event: %s", str(exc)[:300])
        return None


async def store(
    runtime: ServiceRuntime,
    items: Sequence[T],
    write: Callable[[AsyncSession, Sequence[T]], Awaitable[object]],
) -> None:
    if not items:
        return
    try:
        async with db.transaction(runtime.sessions) as session:
            await write(session, items)
        return
    except Exception as error:
        if db.is_database_unavailable(error):
            raise
    for item in items:
        try:
            async with db.transaction(runtime.sessions) as session:
                await write(session, [item])
        except Exception as error:
            if db.is_database_unavailable(error) or not db.is_data_error(error):
                raise
            log.warning("skipping an event PostgreSQL cannot store: %s", error)

"""Review's event consumers: servicekit's `BatchConsumer` (durable pull consumers), a
batch per fetch stored in one transaction and acknowledged after the commit.

* `space.*.analysis_runs.>`: `proposals_created` (proposals, idempotent by id),
  `proposals_withdrawn` (a pending proposal a later batch called off is rejected by
  `analysis`) and `run_closed`; the run's other events are acknowledged unread.
* `space.*.messages.message.updated`: the read model of source texts (one `unnest` upsert).

Outage backoff, poison events (a batch PostgreSQL refuses is stored one event at a time, the
one it still refuses logged and acknowledged) and acknowledgement live in servicekit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import (
    EventPayload,
    MessageUpdated,
    RunClosed,
    TaskProposalsCreated,
    TaskProposalsWithdrawn,
)
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.review import decisions
from tasktracker.review.db import intake, messages
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.consumers import (
    BatchConsumer,
    ConsumerOptions,
    EventConsumers,
    Handler,
)
from tasktracker.servicekit.runtime import ServiceRuntime

ANALYSIS_RUNS = space_filter(None, Topic.analysis_runs)
MESSAGE_UPDATED = space_filter(None, Topic.messages).removesuffix(">") + MessageUpdated.event_type

Events = list[Envelope[EventPayload]]


def store_runs(similarity: intake.Similarity) -> Handler:
    async def store(session: AsyncSession, events: Events) -> None:
        # proposals before closes: a batch holding both of one run stores the proposals first
        await intake.store_proposals(
            session,
            [(e.project_id, e.data) for e in events if isinstance(e.data, TaskProposalsCreated)],
            similarity,
        )
        for event in events:
            if isinstance(event.data, TaskProposalsWithdrawn):
                for withdrawal in event.data.withdrawals:
                    await decisions.withdraw(
                        session, event.project_id, withdrawal.proposal_id, withdrawal.message_ids
                    )
        await intake.close_runs(
            session, [(e.project_id, e.data) for e in events if isinstance(e.data, RunClosed)]
        )

    return store


async def store_messages(session: AsyncSession, events: Events) -> None:
    await messages.upsert_messages(
        session, [e.data.message for e in events if isinstance(e.data, MessageUpdated)]
    )


def build_consumers(settings: ReviewSettings, runtime: ServiceRuntime) -> EventConsumers:
    similarity = intake.Similarity(settings.similarity_threshold, settings.similarity_max_tasks)

    def consumer(
        subject: str,
        durable: str,
        event_types: frozenset[str] | None,
        store: Handler,
        linger_seconds: float = 0.0,
    ) -> BatchConsumer:
        options = ConsumerOptions(
            durable=durable,
            subject=subject,
            event_types=event_types,
            batch_size=settings.events_batch_size,
            fetch_wait_seconds=settings.events_batch_timeout_seconds,
            linger_seconds=linger_seconds,
            ack_wait_seconds=settings.events_ack_wait_seconds,
            outage_delay_seconds=settings.events_outage_delay_seconds,
            outage_max_delay_seconds=settings.events_outage_max_delay_seconds,
            start_time=settings.events_since,
        )
        return BatchConsumer(settings.stream_name, options, store, runtime.consumer_sessions)

    run_events = frozenset(
        {
            TaskProposalsCreated.event_type,
            TaskProposalsWithdrawn.event_type,
            RunClosed.event_type,
        }
    )
    consumers = [
        consumer(ANALYSIS_RUNS, settings.runs_durable, run_events, store_runs(similarity)),
        consumer(
            MESSAGE_UPDATED,
            settings.messages_durable,
            None,
            store_messages,
            settings.messages_linger_seconds,
        ),
    ]
    return EventConsumers(
        settings.nats_url,
        f"{settings.service_name}-events",
        consumers,
        **settings.nats_credentials(),
    )

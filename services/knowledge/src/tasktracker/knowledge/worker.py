"""The knowledge service's TaskIQ broker and its job (run with `tasktracker-knowledge worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated

from taskiq import Context, TaskiqDepends, TaskiqEvents, TaskiqState

from tasktracker.knowledge.agent import ExtractionAgent, build_agent
from tasktracker.knowledge.extract import run_extraction
from tasktracker.knowledge.queue import KNOWLEDGE_EXTRACTION, sweep_forever
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.metrics import RUNS_FINISHED
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


async def knowledge_extraction(
    extraction_id: str, context: Annotated[Context, TaskiqDepends()]
) -> str:
    runtime: WorkerRuntime = context.state.runtime
    settings: KnowledgeSettings = context.state.settings
    agent: ExtractionAgent = context.state.agent
    labels = context.message.labels
    tries = int(labels.get("max_retries", settings.job_max_retries))
    last_try = int(labels.get("_retries", 0)) + 1 >= tries
    status = await run_extraction(
        runtime.sessions,
        agent,
        uuid.UUID(extraction_id),
        last_try=last_try,
        max_messages=settings.extraction_max_messages,
    )
    log.info("extraction %s: %s", extraction_id, status)
    RUNS_FINISHED.labels("knowledge", "extraction", str(getattr(status, "value", status))).inc()
    return status


def build_broker(settings: KnowledgeSettings) -> JobBroker:
    broker = make_job_broker(settings)
    runtime = WorkerRuntime(settings)
    runtime.attach(broker)
    broker.state.runtime = runtime
    broker.state.settings = settings
    broker.state.agent = build_agent(settings)
    broker.register_task(knowledge_extraction, task_name=KNOWLEDGE_EXTRACTION)

    async def start_sweeper(state: TaskiqState) -> None:
        state.sweeper = asyncio.create_task(
            sweep_forever(
                broker,
                runtime.sessions,
                settings.extraction_requeue_after_seconds,
                settings.extraction_max_tries,
            ),
            name="pending-extractions-sweeper",
        )

    async def stop_sweeper(state: TaskiqState) -> None:
        sweeper = getattr(state, "sweeper", None)
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    # After the runtime's own handlers: the sweeper needs its database.
    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, start_sweeper)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, stop_sweeper)
    return broker


broker = build_broker(KnowledgeSettings())

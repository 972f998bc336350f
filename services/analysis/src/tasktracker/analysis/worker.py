"""The analysis service's TaskIQ broker and its job (run with `tasktracker-analysis worker`)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from taskiq import Context, TaskiqDepends, TaskiqEvents, TaskiqState

from tasktracker.analysis.agent import build_agent
from tasktracker.analysis.execute import Executor
from tasktracker.analysis.queue import EXECUTE_ANALYSIS_RUN
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.metrics import RUNS_FINISHED
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


async def execute_analysis_run(run_id: str, context: Annotated[Context, TaskiqDepends()]) -> str:
    executor: Executor = context.state.executor
    settings: AnalysisSettings = context.state.settings
    labels = context.message.labels
    tries = int(labels.get("max_retries", settings.job_max_retries))
    last_try = int(labels.get("_retries", 0)) + 1 >= tries
    status = await executor.run(uuid.UUID(run_id), last_try=last_try)
    log.info("run %s: %s", run_id, status)
    RUNS_FINISHED.labels("analysis", "analysis_run", str(getattr(status, "value", status))).inc()
    return str(status)


def build_broker(settings: AnalysisSettings) -> JobBroker:
    broker = make_job_broker(settings)
    runtime = WorkerRuntime(settings)
    runtime.attach(broker)
    broker.state.settings = settings

    async def make_executor(state: TaskiqState) -> None:
        state.executor = Executor(
            sessions=runtime.sessions,
            agent=build_agent(settings),
            limiter=RequestsPerMinute(settings.llm_requests_per_minute),
            lease_seconds=settings.job_ack_wait_seconds,
            max_messages=settings.run_max_messages,
        )

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, make_executor)
    broker.register_task(execute_analysis_run, task_name=EXECUTE_ANALYSIS_RUN)
    return broker


broker = build_broker(AnalysisSettings())

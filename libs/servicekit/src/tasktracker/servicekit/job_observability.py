"""What a job shows of itself: a taskiq middleware counting each try (started, succeeded,
failed) and timing it, `count_job` for what the retry middleware decides (retried, parked,
waited), and the ids every log line of a job carries."""

from __future__ import annotations

import time
from typing import Any

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from tasktracker.servicekit.logs import bind_log_context
from tasktracker.servicekit.metrics import JOB_DURATION, JOBS, series


def count_job(service: str, message: TaskiqMessage, outcome: str) -> None:
    series(JOBS, service, message.task_name, outcome).inc()


class JobMetricsMiddleware(TaskiqMiddleware):
    """Runs in the worker process: `pre_execute` and `post_execute` surround each try."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._started: dict[tuple[str, str], float] = {}

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        # the job runs in this task: its log lines carry its id and the ids it was given
        ids = {k: v for k, v in message.kwargs.items() if k.endswith("_id") and _scalar(v)}
        bind_log_context(job=message.task_name, job_id=message.task_id, **ids)
        self._started[_key(message)] = time.perf_counter()
        count_job(self.service, message, "started")
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        started = self._started.pop(_key(message), None)
        if started is not None:
            series(JOB_DURATION, self.service, message.task_name).observe(
                time.perf_counter() - started
            )
        count_job(self.service, message, "failed" if result.is_err else "succeeded")


def _key(message: TaskiqMessage) -> tuple[str, str]:
    return (message.task_id, str(message.labels.get("_retries", 0)))


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and len(str(value)) <= 64

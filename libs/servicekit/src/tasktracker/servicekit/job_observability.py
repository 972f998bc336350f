"""What a job shows of itself: a taskiq middleware counting each try (started, succeeded,
failed) and timing it, `count_job` for what the retry middleware decides (retried, parked,
waited), and the ids every log line of a job carries."""

from __future__ import annotations

import functools
import time
from typing import Any

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from tasktracker.servicekit.logs import bind_log_context
from tasktracker.servicekit.metrics import JOB_DURATION, JOBS


def count_job(service: str, message: TaskiqMessage, outcome: str) -> None:
    _jobs(service, message.task_name, outcome).inc()


# A job's series, looked up once: `labels()` validates and locks on every call, and three
# calls a job were a visible share of the worker's CPU at hundreds of jobs a second.
@functools.cache
def _jobs(service: str, task: str, outcome: str) -> Any:
    return JOBS.labels(service, task, outcome)


@functools.cache
def _duration(service: str, task: str) -> Any:
    return JOB_DURATION.labels(service, task)


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
            _duration(self.service, message.task_name).observe(time.perf_counter() - started)
        count_job(self.service, message, "failed" if result.is_err else "succeeded")


def _key(message: TaskiqMessage) -> tuple[str, str]:
    return (message.task_id, str(message.labels.get("_retries", 0)))


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and len(str(value)) <= 64

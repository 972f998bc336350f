"""Retries of failed jobs: exponential backoff with jitter, outages waited out without
spending a try, and parking on the dead-letter stream after the last try (`jobs.JobBroker`
does the waiting, handing back and parking)."""

from __future__ import annotations

import logging
import random
from typing import Any, Protocol, runtime_checkable

from taskiq import TaskiqMessage, TaskiqResult
from taskiq.exceptions import NoResultError
from taskiq.middlewares import SmartRetryMiddleware

from tasktracker.servicekit.job_errors import describe_error, is_permanent, must_wait
from tasktracker.servicekit.job_observability import count_job

log = logging.getLogger(__name__)


def delivery_key(message: TaskiqMessage) -> tuple[str, str]:
    """What links a TaskiqMessage a middleware sees to the JetStream message it came in."""
    return (message.task_id, str(message.labels.get("_retries", 0)))


@runtime_checkable
class RetryingBroker(Protocol):
    """What the middleware asks of the broker (`jobs.JobBroker`)."""

    service: str

    def pause_for_outage(self) -> float: ...

    async def hand_back(self, key: tuple[str, str], delay: float) -> None: ...

    async def park(self, message: TaskiqMessage, error: BaseException) -> None: ...


class BackoffRetryMiddleware(SmartRetryMiddleware):
    """Exponential backoff with jitter; parks the job after its last try."""

    def __init__(self, *, max_retries: int, base_delay: float, max_delay: float) -> None:
        super().__init__(
            default_retry_count=max_retries,
            default_retry_label=True,
            default_delay=base_delay,
            use_jitter=True,
            max_delay_exponent=max_delay,
        )
        self.base_delay = base_delay
        self.max_delay = max_delay

    def make_delay(self, message: TaskiqMessage, retries: int) -> float:
        delay = min(self.base_delay * 2 ** (retries - 1), self.max_delay)
        return delay + random.random() * delay / 4

    async def on_error(
        self,
        message: TaskiqMessage,
        result: TaskiqResult[Any],
        exception: BaseException,
    ) -> None:
        """Wait out an outage; else re-kick with backoff, or park: after the last try, or at
        once when no retry can help.

        If the retry cannot be kicked, the job is parked instead; if it cannot be parked
        either, its message is handed back to JetStream, which delivers it again — a failed
        job is never silently dropped, nor kept in progress by a heartbeat.
        """
        broker = self.broker
        if not isinstance(broker, RetryingBroker):
            raise TypeError("BackoffRetryMiddleware needs a JobBroker")
        key = delivery_key(message)  # before taskiq's re-kick adds a try to message.labels
        try:
            if must_wait(exception):
                delay = broker.pause_for_outage()
                log.warning(
                    "job %s %s waits %.1f s, no try spent: %s",
                    message.task_name,
                    message.task_id,
                    delay,
                    ": ".join(describe_error(exception)),
                )
                await broker.hand_back(key, delay)
                result.error = NoResultError()
                count_job(broker.service, message, "waited")
                return
            await self._retry_or_park(broker, message, result, exception)
        except Exception as handling_error:
            log.error(
                "job %s %s could be neither retried nor parked (%r): handed back to JetStream",
                message.task_name,
                message.task_id,
                handling_error,
            )
            # Raises when there is nothing to hand back: taskiq then leaves the message
            # unacknowledged, and JetStream redelivers it after ack_wait.
            await broker.hand_back(key, self.base_delay)
            result.error = NoResultError()

    async def _retry_or_park(
        self,
        broker: RetryingBroker,
        message: TaskiqMessage,
        result: TaskiqResult[Any],
        exception: BaseException,
    ) -> None:
        retries = int(message.labels.get("_retries", 0)) + 1
        max_retries = int(message.labels.get("max_retries", self.default_retry_count))
        if retries < max_retries and not is_permanent(exception):
            try:
                # On a copy: taskiq's kicker writes the next try into the labels it is given.
                kicked = message.model_copy(update={"labels": dict(message.labels)})
                await super().on_error(kicked, result, exception)
                count_job(broker.service, message, "retried")
                return
            except Exception as kick_error:
                log.error("job %s could not be re-kicked: %r", message.task_id, kick_error)
        log.error(
            "job %s %s parked after %d tries: %s",
            message.task_name,
            message.task_id,
            retries,
            ": ".join(describe_error(exception)),
        )
        await broker.park(message, exception)

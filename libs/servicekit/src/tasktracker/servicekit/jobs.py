"""TaskIQ on JetStream: per-service job stream, long-job heartbeats, real retry backoff.

taskiq-nats' pull broker is used as it is, with three additions:

* each service gets its own stream, subject and durable (the library's defaults are shared);
* while a job runs, its message is kept alive with `in_progress()` so JetStream does not
  redeliver a long job after `ack_wait` — a worker that dies stops the heartbeat, and the job
  is redelivered one `ack_wait` later;
* a retry kicked with a `delay` label carries a `not_before` header; the listener holds such a
  message back with `nak(delay=…)` until it is due, so backoff really waits without a
  schedule source. After the last try the job is parked on the service's dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from taskiq import AckableMessage, BrokerMessage, TaskiqMessage, TaskiqResult
from taskiq.kicker import AsyncKicker
from taskiq.middlewares import SmartRetryMiddleware
from taskiq_nats import PullBasedJetStreamBroker

from tasktracker.servicekit.db import is_data_error
from tasktracker.servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

NOT_BEFORE_HEADER = "tt-not-before"


class PermanentJobError(Exception):
    """Raise from a job when trying again can never succeed: it is parked at once."""


def is_permanent(error: BaseException) -> bool:
    return isinstance(error, PermanentJobError) or is_data_error(error)


class JobBroker(PullBasedJetStreamBroker):
    def __init__(self, settings: ServiceSettings, **kwargs: Any) -> None:
        self.ack_wait = settings.job_ack_wait_seconds
        self.max_runtime = settings.job_max_runtime_seconds
        self.dead_letter_subject = f"dead.{settings.jobs_subject}"
        self.dead_letter_stream = f"{settings.jobs_stream}_DEAD"
        # nats-py gives up after 60 reconnect attempts (~2 min) and the client stays closed:
        # every later kick would fail. Reconnect forever, like natsconn.connect().
        kwargs.setdefault("max_reconnect_attempts", -1)
        kwargs.setdefault("reconnect_time_wait", 0.5)
        super().__init__(
            settings.nats_url,
            subject=settings.jobs_subject,
            stream_name=settings.jobs_stream,
            durable=settings.jobs_durable,
            stream_config=StreamConfig(
                name=settings.jobs_stream,
                subjects=[settings.jobs_subject],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=settings.stream_duplicate_window_seconds,
            ),
            consumer_config=ConsumerConfig(
                durable_name=settings.jobs_durable,
                filter_subject=settings.jobs_subject,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.job_ack_wait_seconds,
            ),
            pull_consume_batch=1,
            pull_consume_timeout=5.0,
            **kwargs,
        )

    async def startup(self) -> None:
        await super().startup()
        await self._ensure_dead_letter_stream()

    async def _ensure_dead_letter_stream(self) -> None:
        config = StreamConfig(
            name=self.dead_letter_stream,
            subjects=[self.dead_letter_subject],
            storage=StorageType.FILE,
        )
        try:
            await self.js.add_stream(config=config)
        except Exception:  # exists already with another config: keep it
            log.debug("dead-letter stream %s exists", self.dead_letter_stream)

    async def kick(self, message: BrokerMessage) -> None:
        headers = {str(k): str(v) for k, v in message.labels.items()}
        retry = headers.get("_retries", "0")
        # A re-kicked retry keeps its task id, so the id alone would be dropped as a duplicate.
        headers["Nats-Msg-Id"] = f"{message.task_id}:{retry}"
        delay = float(message.labels.get("delay") or 0)
        if delay > 0:
            headers[NOT_BEFORE_HEADER] = f"{time.time() + delay:.3f}"
        await self.js.publish(self.subject, payload=message.message, headers=headers)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                batch = await self.consumer.fetch(
                    batch=self.pull_consume_batch, timeout=self.pull_consume_timeout
                )
            except NatsTimeoutError:
                # nats-py may turn a cancellation during fetch into its TimeoutError; looping
                # on would swallow the cancel and hang the worker's shutdown.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from None
                continue
            for msg in batch:
                not_before = float((msg.headers or {}).get(NOT_BEFORE_HEADER, 0))
                wait = not_before - time.time()
                if wait > 0:
                    await msg.nak(delay=wait)
                    continue
                yield AckableMessage(data=msg.data, ack=self._ack_with_heartbeat(msg))

    def _ack_with_heartbeat(self, msg: Any) -> Callable[[], Awaitable[None]]:
        async def beat() -> None:
            deadline = time.monotonic() + self.max_runtime
            while time.monotonic() < deadline:
                await asyncio.sleep(self.ack_wait / 3)
                with contextlib.suppress(Exception):
                    await msg.in_progress()

        heartbeat = asyncio.create_task(beat())

        async def ack() -> None:
            heartbeat.cancel()
            await msg.ack()

        return ack

    async def park(self, message: TaskiqMessage, error: BaseException) -> None:
        body = {
            "task_name": message.task_name,
            "task_id": message.task_id,
            "args": message.args,
            "kwargs": message.kwargs,
            "labels": message.labels,
            "error": repr(error),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        await self.js.publish(
            self.dead_letter_subject,
            json.dumps(body, default=str).encode(),
            headers={"Nats-Msg-Id": f"dead:{message.task_id}"},
        )


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
        """Re-kick with backoff, or park: after the last try, or at once when no retry can help.

        If the retry cannot be kicked, the job is parked instead; if it cannot be parked
        either, this raises, so the original message is never acknowledged and JetStream
        delivers it again — a failed job is never silently dropped.
        """
        retries = int(message.labels.get("_retries", 0)) + 1
        max_retries = int(message.labels.get("max_retries", self.default_retry_count))
        if retries < max_retries and not is_permanent(exception):
            try:
                await super().on_error(message, result, exception)
                return
            except Exception as kick_error:
                log.error("job %s could not be re-kicked: %r", message.task_id, kick_error)
        if isinstance(self.broker, JobBroker):
            log.error(
                "job %s %s parked after %d tries: %r",
                message.task_name,
                message.task_id,
                retries,
                exception,
            )
            await self.broker.park(message, exception)


async def requeue_parked(broker: JobBroker, limit: int = 1000) -> int:
    """Kick parked jobs again (as new jobs, first try) and remove them from the dead-letter
    stream. For after the cause is fixed; jobs are idempotent, so a repeat is harmless."""
    sub = await broker.js.pull_subscribe(
        broker.dead_letter_subject, stream=broker.dead_letter_stream, durable=None
    )
    requeued = 0
    try:
        while requeued < limit:
            try:
                batch = await sub.fetch(min(100, limit - requeued), timeout=1)
            except NatsTimeoutError:
                break
            for msg in batch:
                parked = json.loads(msg.data)
                labels = {
                    k: v for k, v in parked["labels"].items() if k not in ("_retries", "delay")
                }
                kicker = AsyncKicker(parked["task_name"], broker, labels)
                await kicker.kiq(*parked["args"], **parked["kwargs"])
                await broker.js.delete_msg(broker.dead_letter_stream, msg.metadata.sequence.stream)
                requeued += 1
    finally:
        await sub.unsubscribe()
    return requeued


def make_job_broker(settings: ServiceSettings) -> JobBroker:
    broker = JobBroker(settings)
    return broker.with_middlewares(
        BackoffRetryMiddleware(
            max_retries=settings.job_max_retries,
            base_delay=settings.job_retry_delay_seconds,
            max_delay=settings.job_retry_max_delay_seconds,
        )
    )

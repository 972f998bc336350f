"""TaskIQ on JetStream: per-service job stream, long-job heartbeats, real retry backoff,
and outages waited out instead of spending tries.

taskiq-nats' pull broker is used as it is, with these additions:

* each service gets its own stream, subject and durable (the library's defaults are shared);
* while a job runs, its message is kept alive with `in_progress()` so JetStream does not
  redeliver a long job after `ack_wait` — a worker that dies stops the heartbeat, and the job
  is redelivered one `ack_wait` later; a delivery whose error handling fails is handed back
  (heartbeat stopped, `nak`) instead of being kept alive until `job_max_runtime_seconds`;
* a retry kicked with a `delay` label carries a `not_before` header; the listener holds such a
  message back with `nak(delay=…)` until it is due, so backoff really waits without a
  schedule source. After the last try the job is parked on the service's dead-letter stream;
* a job that fails because its database is unreachable (`db.is_database_unavailable`) or that
  raises `DependencyUnavailable` spends no try: its message is handed back with a delay and the
  worker takes no new job until then (doubling up to `job_outage_max_delay_seconds`), so a long
  outage parks nothing and the worker resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from taskiq import AckableMessage, BrokerMessage, TaskiqMessage, TaskiqMiddleware
from taskiq_nats import PullBasedJetStreamBroker

from tasktracker.servicekit import tracing
from tasktracker.servicekit.job_errors import error_details
from tasktracker.servicekit.job_observability import JobMetricsMiddleware, count_job
from tasktracker.servicekit.job_retries import BackoffRetryMiddleware, delivery_key
from tasktracker.servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

NOT_BEFORE_HEADER = "tt-not-before"
STREAM_EXISTS_WITH_OTHER_CONFIG = 10058  # JetStream API error code
NATS_RETRY_SECONDS = 1.0  # between fetches while NATS itself is unreachable


def _delivery_key_of(msg: Msg) -> tuple[str, str] | None:
    """`delivery_key` of a fetched message, read from the `Nats-Msg-Id` that `JobBroker.kick`
    gives it (`<task id>:<try>`) instead of decoding the body a second time (taskiq decodes
    it once to run the job); None for a message that did not come through `kick`."""
    task_id, colon, retry = (msg.headers or {}).get("Nats-Msg-Id", "").rpartition(":")
    return (task_id, retry) if colon else None


@dataclass(eq=False)
class _Delivery:
    """One message being worked on, from fetch until it is acknowledged or handed back."""

    msg: Msg
    fetched_at: float = field(default_factory=time.monotonic)
    settled: bool = False

    def settle(self) -> bool:
        """No more heartbeats; False when it was settled already (ack after a hand-back)."""
        first, self.settled = not self.settled, True
        return first


class JobBroker(PullBasedJetStreamBroker):
    def __init__(
        self, settings: ServiceSettings, publish_timeout: float | None = None, **kwargs: Any
    ) -> None:
        self.service = settings.service_name
        # How long a kick waits for JetStream's PubAck (nats-py's timeout: one timer per kick;
        # a second one around it cost the webhook a fifth of its CPU). None: nats-py's default.
        self.publish_timeout = publish_timeout
        self.ack_wait = settings.job_ack_wait_seconds
        self.max_runtime = settings.job_max_runtime_seconds
        self.dead_letter_subject = f"dead.{settings.jobs_subject}"
        self.dead_letter_stream = f"{settings.jobs_stream}_DEAD"
        self.dead_letter_max_age = settings.job_dead_letter_max_age_seconds
        self.dead_letter_max_bytes = settings.job_dead_letter_max_bytes
        self.outage_base_delay = max(settings.job_retry_delay_seconds, 0.1)
        self.outage_max_delay = settings.job_outage_max_delay_seconds
        self._outage_streak = 0
        self._paused_until = 0.0  # time.monotonic(): no new job before this during an outage
        self._deliveries: dict[tuple[str, str], list[_Delivery]] = {}
        self._heartbeats: asyncio.Task[None] | None = None
        self._ready: deque[Msg] = deque()  # fetched, due, not yet handed to taskiq
        self._before_close: list[Callable[[], Awaitable[None]]] = []
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
            pull_consume_batch=settings.job_fetch_batch,
            pull_consume_timeout=5.0,
            **kwargs,
        )

    async def startup(self) -> None:
        await super().startup()
        await self._ensure_dead_letter_stream()

    def before_close(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the broker shuts down, before its connection closes (taskiq's
        shutdown handlers run after): work that still kicks jobs or parks on it stops there."""
        self._before_close.append(hook)

    async def shutdown(self) -> None:
        for hook in self._before_close:
            try:
                await hook()
            except Exception:
                log.exception("stopping before the job broker closes failed")
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None
        await super().shutdown()

    async def _ensure_dead_letter_stream(self) -> None:
        """Create the dead-letter stream, or bring an existing one to the configured limits."""
        config = StreamConfig(
            name=self.dead_letter_stream,
            subjects=[self.dead_letter_subject],
            storage=StorageType.FILE,
            max_age=self.dead_letter_max_age,
            max_bytes=self.dead_letter_max_bytes,
        )
        try:
            await self.js.add_stream(config=config)
        except BadRequestError as exc:
            if exc.err_code != STREAM_EXISTS_WITH_OTHER_CONFIG:
                raise
            try:
                await self.js.update_stream(config=config)
            except NatsError as update_error:
                log.warning(
                    "dead-letter stream %s kept as it is: %r", self.dead_letter_stream, update_error
                )

    async def kick(self, message: BrokerMessage) -> None:
        headers = {str(k): str(v) for k, v in message.labels.items()}
        retry = headers.get("_retries", "0")
        # A re-kicked retry keeps its task id, so the id alone would be dropped as a duplicate.
        headers["Nats-Msg-Id"] = f"{message.task_id}:{retry}"
        delay = float(message.labels.get("delay") or 0)
        if delay > 0:
            headers[NOT_BEFORE_HEADER] = f"{time.time() + delay:.3f}"
        await self.js.publish(
            self.subject, payload=message.message, headers=headers, timeout=self.publish_timeout
        )

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            if (pause := self._paused_until - time.monotonic()) > 0:
                await asyncio.sleep(pause)  # an outage: taking jobs now would fail them
                continue
            try:
                batch = await self.consumer.fetch(
                    batch=self.pull_consume_batch, timeout=self.pull_consume_timeout
                )
            except TimeoutError:
                # Nothing to fetch: nats-py raises its own TimeoutError, or a bare asyncio one
                # when the server's 'request timeout' of the idle pull comes after the client's
                # deadline (on a busy machine); either used to end the listener, and the worker
                # took no job any more. nats-py may also turn a cancellation during fetch into
                # a TimeoutError; looping on would swallow the cancel and hang the shutdown.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from None
                continue
            except NatsError as exc:  # disconnected: the client reconnects meanwhile
                log.warning("cannot fetch jobs: %r; trying again", exc)
                await asyncio.sleep(NATS_RETRY_SECONDS)
                continue
            await self._admit(batch)
            while (message := self.take_ready()) is not None:
                yield message

    async def _admit(self, batch: list[Msg]) -> None:
        """Queue the fetched messages that are due; hand the others back until they are."""
        for msg in batch:
            not_before = float((msg.headers or {}).get(NOT_BEFORE_HEADER, 0))
            wait = not_before - time.time()
            if wait > 0:
                with contextlib.suppress(NatsError):  # else redelivered after ack_wait
                    await msg.nak(delay=wait)
                continue
            self._ready.append(msg)

    def take_ready(self) -> AckableMessage | None:
        """The next fetched message that is due, or None until `listen` fetches again.

        `worker.JobReceiver` takes a fetched batch through here at once, instead of a trip
        through the event loop per message."""
        if not self._ready:
            return None
        msg = self._ready.popleft()
        return AckableMessage(data=msg.data, ack=self._track(msg))

    def _track(self, msg: Msg) -> Callable[[], Awaitable[None]]:
        key = _delivery_key_of(msg)
        if key is None:
            try:
                key = delivery_key(self.formatter.loads(msg.data))
            except Exception:  # taskiq acknowledges what it cannot parse
                key = ("", "")
        delivery = _Delivery(msg)
        self._deliveries.setdefault(key, []).append(delivery)
        if self._heartbeats is None or self._heartbeats.done():
            self._heartbeats = asyncio.create_task(self._beat(), name="job-heartbeats")

        async def ack() -> None:
            self._forget(key, delivery)
            if delivery.settle():  # not handed back already
                self._outage_streak = 0  # a job got through: its database answers
                await msg.ack()

        return ack

    async def _beat(self) -> None:
        """One loop for every job in flight (a task per job cost the worker a task and a timer
        per message): each unsettled delivery is told `in_progress` every ack_wait / 3, until
        it settles or has run `job_max_runtime_seconds`."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            oldest = time.monotonic() - self.max_runtime
            for deliveries in list(self._deliveries.values()):
                for delivery in list(deliveries):
                    if not delivery.settled and delivery.fetched_at > oldest:
                        with contextlib.suppress(Exception):
                            await delivery.msg.in_progress()

    def _forget(self, key: tuple[str, str], delivery: _Delivery) -> None:
        deliveries = self._deliveries.get(key, [])
        if delivery in deliveries:
            deliveries.remove(delivery)
        if not deliveries:
            self._deliveries.pop(key, None)

    async def hand_back(self, key: tuple[str, str], delay: float) -> None:
        """Stop the heartbeat of the message being worked on and `nak` it, so that JetStream
        delivers it again after `delay` — as the same try. When even the nak cannot be sent,
        the stopped heartbeat lets JetStream redeliver it after `ack_wait`.

        Raises LookupError when this worker holds no such delivery."""
        deliveries = self._deliveries.get(key)
        if not deliveries:
            raise LookupError(f"no delivery of job {key[0]} try {key[1]} is in progress")
        delivery = deliveries[0]
        self._forget(key, delivery)
        if not delivery.settle():
            return
        try:
            await delivery.msg.nak(delay=delay)
        except NatsError as exc:
            log.warning("job %s: nak failed (%r); redelivered after ack_wait", key[0], exc)

    def pause_for_outage(self) -> float:
        """A job found its database unreachable: take no new job for a while, doubling the
        pause while the outage lasts (jobs failing together count once). Returns the pause."""
        now = time.monotonic()
        if now >= self._paused_until:
            self._outage_streak += 1
        delay = min(self.outage_base_delay * 2 ** (self._outage_streak - 1), self.outage_max_delay)
        self._paused_until = max(self._paused_until, now + delay)
        return delay

    async def park(self, message: TaskiqMessage, error: BaseException) -> None:
        body = {
            "task_name": message.task_name,
            "task_id": message.task_id,
            "args": message.args,
            "kwargs": message.kwargs,
            "labels": message.labels,
            **error_details(error),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        await self.js.publish(
            self.dead_letter_subject,
            json.dumps(body, default=str).encode(),
            headers={"Nats-Msg-Id": f"dead:{message.task_id}"},
        )
        count_job(self.service, message, "parked")


def make_job_broker(
    settings: ServiceSettings, publish_timeout: float | None = None, **connect_options: Any
) -> JobBroker:
    """`connect_options` go to nats-py's `connect()`, after the settings' credentials. A kick
    that gets no PubAck within `publish_timeout` raises taskiq's SendTaskError (its cause
    nats-py's TimeoutError)."""
    broker = JobBroker(settings, publish_timeout, **(settings.nats_credentials() | connect_options))
    middlewares: list[TaskiqMiddleware] = [
        JobMetricsMiddleware(settings.service_name),
        BackoffRetryMiddleware(
            max_retries=settings.job_max_retries,
            base_delay=settings.job_retry_delay_seconds,
            max_delay=settings.job_retry_max_delay_seconds,
        ),
    ]
    if tracing.enabled():  # the process's command configured tracing before building this
        middlewares.append(tracing.job_middleware())
    return broker.with_middlewares(*middlewares)

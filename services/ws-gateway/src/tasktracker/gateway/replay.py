"""A topic's history from JetStream, for a subscription that resumes with `since`.

A replay reads from an ephemeral pull consumer of its own, at the socket's pace: between two
fetches it may wait a long while for room in a slow reader's send queue. It has to reach
`until` — the stream's last sequence when `subscribed` went out; what comes after arrives
live — or fail loudly:

* the consumer is disposable: if it is gone (the server reaps it after `INACTIVE_THRESHOLD`
  seconds without a fetch, or someone deleted it), the replay opens another one at the next
  sequence, once it has checked that the stream still holds that sequence;
* a fetch that times out proves nothing by itself: a busy machine misses a fixed timeout, and
  a pull request outstanding when its consumer is deleted is answered "409 Consumer Deleted",
  which nats-py skips and then times out. So the replay asks JetStream for the consumer: gone
  means reopen (above), there means fetch again (at most `FETCH_ATTEMPTS` times in a row);
* whatever else stops it short — JetStream answering neither the fetch (`FETCH_TIMEOUT`) nor
  the question after it (`PROBE_TIMEOUT`), events it still had to send gone from the stream,
  consumers that keep vanishing — raises `ReplayIncomplete`. Going live instead would skip,
  for good, the events between the last one replayed and `until`: they were fanned out live
  before the subscription existed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError, ServiceUnavailableError

FETCH_TIMEOUT = 2.0  # seconds
PROBE_TIMEOUT = 2.0  # seconds: asking JetStream whether the consumer is still there
FETCH_ATTEMPTS = 3  # fetches in a row that time out while JetStream says the consumer exists
# Only cleans up after a gateway that died mid-replay; a running replay outlives its consumer.
INACTIVE_THRESHOLD = 60.0  # seconds
MAX_REOPENS = 3  # consumers lost in a row, with no message read in between


class ReplayIncomplete(Exception):
    """The replay cannot deliver every event up to `until`: the subscription must not go live."""


async def read_history(
    js: JetStreamContext, stream: str, subject: str, since: int, until: int, batch: int
) -> AsyncIterator[list[Msg]]:
    """Batches of the messages on `subject` after `since`, in stream order, up to at least
    `until` (or the end of the stream, whichever comes first)."""
    start = since + 1
    consumer = await ReplayConsumer.open(js, stream, subject, start)
    try:
        pending, lost = consumer.pending, 0
        while pending:
            msgs = await consumer.fetch(batch)
            if not msgs:  # the consumer is gone
                lost += 1
                if lost > MAX_REOPENS:
                    raise ReplayIncomplete(f"replay consumer lost {lost} times at seq {start}")
                await consumer.close()
                consumer = await ReplayConsumer.open(js, stream, subject, start)
                pending = consumer.pending
                continue
            lost = 0
            last = msgs[-1].metadata
            start = last.sequence.stream + 1
            pending = 0 if last.sequence.stream >= until else last.num_pending
            yield msgs
    finally:
        await consumer.close()


class ReplayConsumer:
    """One ephemeral pull consumer of a replay, on `subject` from sequence `start` on."""

    def __init__(self, js: JetStreamContext, stream: str, sub: JetStreamContext.PullSubscription):
        self.js = js
        self.stream = stream
        self.sub = sub
        self.name: str | None = None
        self.pending = 0  # messages left when it was opened

    @classmethod
    async def open(
        cls, js: JetStreamContext, stream: str, subject: str, start: int
    ) -> ReplayConsumer:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            mem_storage=True,
            inactive_threshold=INACTIVE_THRESHOLD,
        )
        consumer = cls(js, stream, await js.pull_subscribe(subject, stream=stream, config=config))
        try:
            info = await consumer.sub.consumer_info()
            consumer.name, consumer.pending = info.name, info.num_pending
            # Read once the consumer exists: it starts at `start` only if the stream still
            # held `start` when it was made (a stream's first sequence never goes back).
            first_seq = (await js.stream_info(stream)).state.first_seq
        except BaseException:
            await consumer.close()
            raise
        if first_seq > start:
            await consumer.close()
            raise ReplayIncomplete(f"events from seq {start} on have left the stream")
        return consumer

    async def fetch(self, batch: int) -> list[Msg]:
        """The next messages; none if the consumer is gone."""
        for _ in range(FETCH_ATTEMPTS):
            try:
                return await self.sub.fetch(batch, timeout=FETCH_TIMEOUT)
            except (NotFoundError, ServiceUnavailableError):
                return []  # nobody answers its pull requests any more
            except TimeoutError:
                if not await self._exists():
                    return []
        raise ReplayIncomplete(
            f"{FETCH_ATTEMPTS} fetches of {FETCH_TIMEOUT}s timed out while the consumer existed"
        )

    async def _exists(self) -> bool:
        if self.name is None:
            return False
        try:
            await self.js.consumer_info(self.stream, self.name, timeout=PROBE_TIMEOUT)
        except NotFoundError:
            return False
        except TimeoutError as exc:
            raise ReplayIncomplete(
                f"no answer from JetStream within {FETCH_TIMEOUT}s, then {PROBE_TIMEOUT}s"
            ) from exc
        return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sub.unsubscribe()
        if self.name is not None:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, self.name)

"""JetStream consumer lag as gauges: `num_pending` (in the stream, not yet delivered) and
`num_ack_pending` (delivered, not yet acknowledged) per durable, sampled every few seconds by
the process that consumes — never by a scrape, so a scrape storm sends no request to NATS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from tasktracker.servicekit.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING

log = logging.getLogger(__name__)


class ConsumerLagSampler:
    def __init__(
        self,
        js: JetStreamContext,
        consumers: Sequence[tuple[str, str]],  # (stream, durable)
        interval_seconds: float = 15.0,
    ) -> None:
        self.js = js
        self.consumers = list(consumers)
        self.interval = interval_seconds

    async def sample(self) -> bool:
        """True when every consumer was sampled."""
        complete = True
        for stream, durable in self.consumers:
            try:
                info = await self.js.consumer_info(stream, durable)
            except (NatsError, TimeoutError) as exc:  # not created yet, or NATS away
                log.debug("no lag of consumer %s/%s: %r", stream, durable, exc)
                complete = False
                continue
            CONSUMER_PENDING.labels(stream, durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(stream, durable).set(info.num_ack_pending or 0)
        return complete

    async def run(self, stop: asyncio.Event) -> None:
        # A process starts before its consumers exist (the worker's durable is made when it
        # first fetches): until every one was sampled, try again each second, not after the
        # whole interval, so the gauges are there from the start.
        while not stop.is_set():
            wait = self.interval if await self.sample() else min(1.0, self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

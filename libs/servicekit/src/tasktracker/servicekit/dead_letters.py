"""Bringing parked jobs back: `tasktracker-<service> requeue-parked`, once the cause is fixed."""

from __future__ import annotations

import json

from nats.errors import TimeoutError as NatsTimeoutError
from taskiq.kicker import AsyncKicker

from tasktracker.servicekit.jobs import JobBroker


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

"""A real worker for job tests: the worker's receiver consuming the real stream, in this
process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taskiq import AckableMessage

from tasktracker.servicekit.jobs import JobBroker
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.worker import JobReceiver


def job_settings(nats_url: str, name: str, **overrides: object) -> ServiceSettings:
    return ServiceSettings(
        nats_url=nats_url,
        jobs_stream=f"TEST_JOBS_{name.upper()}",
        jobs_subject=f"test.jobs.{name}",
        jobs_durable=f"test-{name}",
        **overrides,
    )


class CountingReceiver(JobReceiver):
    """The worker's receiver, counting the deliveries it has finished handling (error path too)."""

    finished = 0

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> Any:
        try:
            return await super().callback(message, raise_err)
        finally:
            self.finished += 1


@asynccontextmanager
async def running_worker(
    broker: JobBroker, max_async_tasks: int = 10
) -> AsyncIterator[CountingReceiver]:
    broker.is_worker_process = True
    await broker.startup()
    finish = asyncio.Event()
    receiver = CountingReceiver(broker, run_startup=False, max_async_tasks=max_async_tasks)
    task = asyncio.create_task(receiver.listen(finish))
    try:
        yield receiver
    finally:
        finish.set()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=15)
        assert done, "the worker did not stop on cancel"
        await broker.shutdown()


async def wait_until(predicate, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.05)

"""TaskIQ on real JetStream: backoff waits, the last failure is parked, long jobs run once."""

from __future__ import annotations

import asyncio
import json
import time

import nats
from taskiq.kicker import AsyncKicker

from tasktracker.servicekit.dead_letters import requeue_parked
from tasktracker.servicekit.job_errors import PermanentJobError
from tasktracker.servicekit.jobs import make_job_broker

from .jobs_support import job_settings, running_worker, wait_until


async def test_retry_waits_with_exponential_backoff(nats_url, session_id):
    settings = job_settings(
        nats_url, f"backoff_{session_id}", job_max_retries=5, job_retry_delay_seconds=0.5
    )
    broker = make_job_broker(settings)
    attempts: list[float] = []

    @broker.task(task_name="flaky")
    async def flaky() -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("not yet")

    async with running_worker(broker):
        await flaky.kiq()
        await wait_until(lambda: len(attempts) >= 3)
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_gap >= 0.5  # base delay
    assert second_gap >= 1.0  # doubled
    assert len(attempts) == 3


async def test_job_is_parked_after_its_last_try(nats_url, session_id):
    settings = job_settings(
        nats_url, f"dead_{session_id}", job_max_retries=2, job_retry_delay_seconds=0.1
    )
    broker = make_job_broker(settings)
    attempts: list[int] = []

    @broker.task(task_name="doomed")
    async def doomed(n: int) -> None:
        attempts.append(n)
        raise ValueError(f"bad input {n}")

    async with running_worker(broker):
        await doomed.kiq(7)
        await wait_until(lambda: len(attempts) >= 2)
        client = await nats.connect(nats_url)
        js = client.jetstream()
        sub = await js.pull_subscribe(broker.dead_letter_subject, durable=None)
        [parked] = await sub.fetch(1, timeout=10)
        await client.close()
    body = json.loads(parked.data)
    assert body["task_name"] == "doomed"
    assert body["args"] == [7]
    assert "bad input 7" in body["error"]
    assert attempts == [7, 7]


async def test_long_job_is_not_redelivered_while_it_runs(nats_url, session_id):
    settings = job_settings(nats_url, f"long_{session_id}", job_ack_wait_seconds=1.0)
    broker = make_job_broker(settings)
    runs: list[float] = []
    done = asyncio.Event()

    @broker.task(task_name="long")
    async def long_job() -> None:
        runs.append(time.monotonic())
        await asyncio.sleep(3.5)  # three and a half ack_waits
        done.set()

    async with running_worker(broker):
        await long_job.kiq()
        await asyncio.wait_for(done.wait(), 20)
        await asyncio.sleep(1.5)  # a redelivery would have started by now
    assert len(runs) == 1


async def test_permanent_failure_is_parked_at_once_and_requeue_runs_it_again(nats_url, session_id):
    settings = job_settings(
        nats_url, f"requeue_{session_id}", job_max_retries=5, job_retry_delay_seconds=0.1
    )
    broker = make_job_broker(settings)
    attempts: list[str] = []
    fixed = asyncio.Event()

    @broker.task(task_name="needs_a_fix")
    async def needs_a_fix(item: str) -> None:
        attempts.append(item)
        if not fixed.is_set():
            raise PermanentJobError(f"{item} cannot be stored")

    async with running_worker(broker):
        await needs_a_fix.kiq("a")
        await wait_until(lambda: len(attempts) == 1)
        client = await nats.connect(nats_url)
        js = client.jetstream()

        async def parked_count() -> int:
            return (await js.stream_info(broker.dead_letter_stream)).state.messages

        async with asyncio.timeout(10):
            while await parked_count() < 1:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert attempts == ["a"]  # parked on the first failure: no retry could help

        fixed.set()
        assert await requeue_parked(broker) == 1
        await wait_until(lambda: len(attempts) == 2)
        assert attempts == ["a", "a"]
        assert await parked_count() == 0
        await client.close()


async def test_jobs_in_flight_share_one_heartbeat_and_are_decoded_once(nats_url, session_id):
    """Per job, the broker adds no task of its own (one heartbeat loop beats for every job in
    flight) and no second decode of its body (the delivery is keyed by its Nats-Msg-Id)."""
    settings = job_settings(nats_url, f"flight_{session_id}")
    broker = make_job_broker(settings)
    decoded = 0
    loads = broker.formatter.loads

    def counting_loads(message):
        nonlocal decoded
        decoded += 1
        return loads(message)

    broker.formatter.loads = counting_loads
    release = asyncio.Event()
    started: list[int] = []

    @broker.task(task_name="waits")
    async def waits(n: int) -> None:
        started.append(n)
        await release.wait()

    async with running_worker(broker) as receiver:
        for n in range(8):
            await waits.kiq(n)
        await wait_until(lambda: len(started) == 8)
        broker_tasks = [
            task
            for task in asyncio.all_tasks()
            if getattr(task.get_coro(), "__qualname__", "").startswith("JobBroker.")
        ]
        release.set()
        await wait_until(lambda: receiver.finished == 8)
    assert len(broker_tasks) == 1  # the heartbeat loop
    assert decoded == 8  # taskiq's own decode, once per job


async def test_a_fetched_batch_reaches_the_runner_at_once(nats_url, session_id):
    """The jobs of one fetch start within a few trips through the event loop, not one or
    more trips per job (taskiq's own prefetcher: a busy worker took them in one by one)."""
    settings = job_settings(nats_url, f"batch_{session_id}")
    broker = make_job_broker(settings)
    release = asyncio.Event()
    started_at_tick: list[int] = []
    ticks = 0

    async def ticker() -> None:  # counts event loop iterations
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    @broker.task(task_name="held")
    async def held(n: int) -> None:
        started_at_tick.append(ticks)
        await release.wait()

    kicker = make_job_broker(settings)
    await kicker.startup()
    try:
        for n in range(50):  # queued before the worker starts: one fetch takes them all
            await AsyncKicker("held", kicker, {}).kiq(n)
    finally:
        await kicker.shutdown()
    counting = asyncio.create_task(ticker())
    try:
        async with running_worker(broker, max_async_tasks=100) as receiver:
            await wait_until(lambda: len(started_at_tick) == 50)
            release.set()
            await wait_until(lambda: receiver.finished == 50)
    finally:
        counting.cancel()
    assert max(started_at_tick) - min(started_at_tick) < 10


async def test_a_fetch_that_times_out_with_a_bare_asyncio_timeout_does_not_stop_the_worker(
    nats_url, session_id
):
    """nats-py's fetch raises a bare asyncio.TimeoutError (not its own TimeoutError) when the
    server's 'request timeout' of an idle pull arrives after the client's deadline, as it does
    on a busy machine: the listener died and the worker took no job any more."""
    settings = job_settings(nats_url, f"idle_{session_id}")
    broker = make_job_broker(settings)
    ran = asyncio.Event()

    @broker.task(task_name="after_idle")
    async def after_idle() -> None:
        ran.set()

    async with running_worker(broker):
        fetch = broker.consumer.fetch
        timeouts = 0

        async def fetch_timing_out_once(*args, **kwargs):
            nonlocal timeouts
            if timeouts == 0:
                timeouts += 1
                raise TimeoutError  # = asyncio.TimeoutError, as nats/js/client.py _fetch_n raises
            return await fetch(*args, **kwargs)

        broker.consumer.fetch = fetch_timing_out_once
        await wait_until(lambda: timeouts == 1)
        await after_idle.kiq()
        await asyncio.wait_for(ran.wait(), 20)

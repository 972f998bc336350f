"""The batch writer: pure asyncio, no servers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tasktracker.servicekit.batching import BatchWriter, BatchWriterClosed


class Poison(Exception):
    pass


class Outage(Exception):
    pass


class Store:
    """A batch handler that records each batch it commits; items named 'poison' fail theirs."""

    def __init__(self, *, gate: asyncio.Event | None = None) -> None:
        self.committed: list[list[str]] = []
        self.attempts: list[list[str]] = []
        self.gate = gate

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.attempts.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if "outage" in items:
            raise Outage("database down")
        if "poison" in items:
            raise Poison("bad item")
        self.committed.append(list(items))
        return [f"stored {item}" for item in items]


async def test_concurrent_jobs_share_one_batch_and_each_gets_its_own_result():
    store = Store()
    writer = BatchWriter(store, max_items=100)
    results = await asyncio.gather(*(writer.submit(f"m{n}") for n in range(10)))
    assert results == [f"stored m{n}" for n in range(10)]
    assert store.committed == [[f"m{n}" for n in range(10)]]
    await writer.close()


async def test_batches_hold_at_most_max_items_in_submission_order():
    store = Store()
    writer = BatchWriter(store, max_items=4)
    await asyncio.gather(*(writer.submit(f"m{n}") for n in range(10)))
    assert [len(batch) for batch in store.committed] == [4, 4, 2]
    assert [item for batch in store.committed for item in batch] == [f"m{n}" for n in range(10)]
    await writer.close()


async def test_one_batch_at_a_time_what_arrives_meanwhile_forms_the_next():
    gate = asyncio.Event()
    store = Store(gate=gate)
    writer = BatchWriter(store, max_items=100)
    first = [asyncio.create_task(writer.submit(f"a{n}")) for n in range(3)]
    while not store.attempts:  # the first batch is being written (held at the gate)
        await asyncio.sleep(0)
    second = [asyncio.create_task(writer.submit(f"b{n}")) for n in range(3)]
    await asyncio.sleep(0.01)
    assert store.attempts == [["a0", "a1", "a2"]]  # no second write while the first runs
    gate.set()
    await asyncio.gather(*first, *second)
    assert store.committed == [["a0", "a1", "a2"], ["b0", "b1", "b2"]]
    await writer.close()


async def test_a_poison_item_fails_only_its_own_job():
    store = Store()
    writer = BatchWriter(store, max_items=100)
    items = ["m0", "m1", "poison", "m3"]
    results = await asyncio.gather(*(writer.submit(i) for i in items), return_exceptions=True)
    assert results[:2] == ["stored m0", "stored m1"]
    assert isinstance(results[2], Poison)
    assert results[3] == "stored m3"
    # The batch failed as a whole, then each item was written alone, in order.
    assert store.committed == [["m0"], ["m1"], ["m3"]]
    assert store.attempts[0] == items


async def test_a_failure_that_is_no_items_fault_fails_the_batch_without_splitting():
    store = Store()
    writer = BatchWriter(store, max_items=100, split=lambda error: not isinstance(error, Outage))
    items = ["m0", "outage", "m2"]
    results = await asyncio.gather(*(writer.submit(i) for i in items), return_exceptions=True)
    assert all(isinstance(result, Outage) for result in results)
    assert store.attempts == [items]  # not retried one by one
    await writer.close()


async def test_a_handler_answering_the_wrong_count_fails_the_items_instead_of_guessing():
    async def short(items: Sequence[str]) -> list[str]:
        return ["only one"]

    writer = BatchWriter(short, max_items=100, split=lambda error: False)
    results = await asyncio.gather(*(writer.submit(i) for i in "ab"), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)


async def test_a_cancelled_job_is_not_written_when_its_batch_has_not_started():
    gate = asyncio.Event()
    store = Store(gate=gate)
    writer = BatchWriter(store, max_items=1)
    first = asyncio.create_task(writer.submit("m0"))
    cancelled = asyncio.create_task(writer.submit("m1"))
    while not store.attempts:
        await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    assert await first == "stored m0"
    await writer.close()
    assert store.committed == [["m0"]]


async def test_close_writes_what_waits_then_refuses_new_items():
    store = Store()
    writer = BatchWriter(store, max_items=100, max_delay=0.05)
    job = asyncio.create_task(writer.submit("m0"))
    await asyncio.sleep(0)
    await writer.close()
    assert await job == "stored m0"
    with pytest.raises(BatchWriterClosed):
        await writer.submit("late")


async def test_a_stopped_flusher_fails_the_waiting_jobs_instead_of_leaving_them_hanging():
    gate = asyncio.Event()
    writer = BatchWriter(Store(gate=gate), max_items=1)
    jobs = [asyncio.create_task(writer.submit(f"m{n}")) for n in range(3)]
    await asyncio.sleep(0.01)
    writer._flusher.cancel()  # what a worker's shutdown does to a stuck flusher
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert all(isinstance(result, BatchWriterClosed) for result in results)

"""PullFetcher against real NATS: order, short and idle fetches, acks and naks on its
messages, and messages arriving after their request gave up kept for the next fetch."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from tasktracker.servicekit.pull import NoResponse, PullFetcher

_streams = itertools.count(1)


@dataclass
class Consumer:
    js: JetStreamContext
    client: nats.NATS
    stream: str
    subject: str
    durable: str = "pull"

    async def publish(self, count: int, first: int = 0) -> None:
        for n in range(first, first + count):
            await self.js.publish(self.subject, str(n).encode())

    def fetcher(self, **options: float) -> PullFetcher:
        return PullFetcher(self.client, self.stream, self.durable, **options)

    async def info(self):
        return await self.js.consumer_info(self.stream, self.durable)


@pytest.fixture
async def consumer(nats_url: str, session_id: str) -> AsyncIterator[Consumer]:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    n = next(_streams)
    stream, subject = f"PULL_TEST_{session_id}_{n}", f"pulltest.{session_id}.{n}"
    await js.add_stream(name=stream, subjects=[subject])
    await js.add_consumer(
        stream, ConsumerConfig(durable_name="pull", ack_policy=AckPolicy.EXPLICIT, ack_wait=60)
    )
    try:
        yield Consumer(js, client, stream, subject)
    finally:
        await js.delete_stream(stream)
        await client.close()


def numbers(msgs) -> list[int]:
    return [int(m.data) for m in msgs]


async def test_a_fetch_returns_up_to_its_batch_in_stream_order(consumer: Consumer):
    await consumer.publish(7)
    fetcher = consumer.fetcher()
    await fetcher.start()
    first = await fetcher.fetch(5, 1.0)
    started = time.monotonic()
    rest = await fetcher.fetch(5, 1.0)
    assert time.monotonic() - started < 0.5  # what there is, without waiting out the expiry
    assert numbers(first) == [0, 1, 2, 3, 4]
    assert numbers(rest) == [5, 6]
    assert [m.metadata.sequence.stream for m in first + rest] == list(range(1, 8))
    await fetcher.close()


async def test_an_idle_fetch_returns_nothing_after_its_wait(consumer: Consumer):
    fetcher = consumer.fetcher()
    await fetcher.start()
    started = time.monotonic()
    assert await fetcher.fetch(10, 0.3) == []
    assert 0.25 < time.monotonic() - started < 1.0
    assert await fetcher.fetch(10, None) == []  # without waiting: at once
    await fetcher.close()


async def test_a_waiting_fetch_returns_once_a_message_is_there(consumer: Consumer):
    fetcher = consumer.fetcher()
    await fetcher.start()
    started = time.monotonic()
    publishing = asyncio.create_task(_later(0.2, consumer.publish(1)))
    msgs = await fetcher.fetch(10, 5.0)
    await publishing
    assert numbers(msgs) == [0]
    assert time.monotonic() - started < 2.0
    await fetcher.close()


async def test_its_messages_ack_and_nak_as_jetstream_messages(consumer: Consumer):
    await consumer.publish(2)
    fetcher = consumer.fetcher()
    await fetcher.start()
    first, second = await fetcher.fetch(2, 1.0)
    assert first.subject == consumer.subject and first.headers is None
    assert first.metadata.num_delivered == 1
    await first.ack()
    await second.nak(delay=0.2)
    again = await fetcher.fetch(2, 2.0)
    assert numbers(again) == [1]
    assert again[0].metadata.num_delivered == 2
    await again[0].ack()
    await asyncio.sleep(0.1)  # the acks are published, not awaited
    info = await consumer.info()
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    await fetcher.close()


async def test_messages_arriving_after_their_request_gave_up_are_kept(consumer: Consumer):
    """A negative margin gives up on a request while the server still holds it: what the
    server then sends to it is delivered, and handed out by the next fetches, once each."""
    fetcher = consumer.fetcher(answer_margin=-0.6)
    await fetcher.start()
    with pytest.raises(NoResponse):
        await fetcher.fetch(10, 1.0)  # the server keeps this request for another 0.6 s
    await consumer.publish(5)
    await asyncio.sleep(0.3)  # delivered to the given-up request
    got = await fetcher.fetch(3, 1.0)  # held: no request (which would give up at once)
    got += await fetcher.fetch(2, 1.0)
    assert numbers(got) == [0, 1, 2, 3, 4]
    for msg in got:
        await msg.ack()
    await asyncio.sleep(0.1)
    info = await consumer.info()
    assert info.delivered.consumer_seq == 5  # each delivered once
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    await fetcher.close()


async def test_close_hands_held_messages_back(consumer: Consumer):
    fetcher = consumer.fetcher(answer_margin=-0.6)
    await fetcher.start()
    with pytest.raises(NoResponse):
        await fetcher.fetch(10, 1.0)
    await consumer.publish(1)
    await asyncio.sleep(0.3)  # delivered to the given-up request, held
    await fetcher.close()  # nak'ed, not left to come back after ack_wait (60 s)

    other = consumer.fetcher()
    await other.start()
    msgs = await other.fetch(10, 2.0)
    assert numbers(msgs) == [0]
    assert msgs[0].metadata.num_delivered == 2
    await other.close()


async def _later(seconds: float, action) -> None:
    await asyncio.sleep(seconds)
    await action

"""A replay that cannot finish must not go live with a gap; one that loses its consumer goes on.

Both replays below are made to wait for room in the socket's send queue first (a client that
does not read, megabytes of history), so that what happens to JetStream happens mid-replay.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

import nats
from nats.js import JetStreamContext
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasktracker.contracts.ws import CloseCode
from tasktracker.devstack.embedded import EmbeddedNats
from tasktracker.gateway.replay import FETCH_TIMEOUT, PROBE_TIMEOUT, ReplayConsumer

from .helpers import (
    Served,
    chat_bound,
    events,
    gateway_settings,
    message_updated,
    nothing_more,
    publish,
    running_gateway,
    small_window_socket,
    subscribe,
    token,
)

EVENTS = 600  # of 8 KB: ~5 MB, far more than the socket buffers toward a client hold
STREAM = "SPACES"


async def reader_that_waits(served: Served, tok: str) -> ClientConnection:
    port = int(served.host.rsplit(":", 1)[1])
    return await connect(
        served.ws,
        additional_headers={"Authorization": f"Bearer {tok}"},
        ping_interval=None,
        sock=small_window_socket(port),
        max_queue=1,
    )


async def stalled_replay(js: JetStreamContext, pid: int) -> str:
    """The replay consumer of `space:<pid>:messages`, once it stands still with events left to
    deliver: the replay is waiting for room in the socket's send queue."""
    subject = f"space.{pid}.messages.>"
    last, steady = None, 0
    for _ in range(150):
        found = [i for i in await js.consumers_info(STREAM) if i.config.filter_subject == subject]
        if found:
            info = found[0]
            position = (info.name, info.delivered.stream_seq)
            steady = steady + 1 if position == last and info.num_pending else 0
            if steady >= 3:
                return info.name
            last = position
        await asyncio.sleep(0.1)
    raise AssertionError("the replay never waited for room")


async def read_until_closed(ws: ClientConnection, seqs: list[int]) -> int:
    """Every event's `seq` into `seqs`, until the server closes; returns the close code."""
    try:
        while True:
            frame = json.loads(await ws.recv())
            assert frame["type"] == "event", frame
            seqs.append(frame["seq"])
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


async def test_replay_that_falls_short_closes_1011_instead_of_going_live(tmp_path, project_ids):
    """NATS stops answering mid-replay — its process is frozen for longer than a fetch and the
    question whether its consumer still exists may take. The events after the last replayed
    one were fanned out live before this subscription existed, so going live now would lose
    them: the socket closes with 1011 and the client resumes with `since`."""
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    try:
        settings = gateway_settings(url, send_queue_size=4, replay_batch_size=8)
        async with running_gateway(settings) as served:
            client = await nats.connect(url)
            js = client.jetstream()
            pid = next(project_ids)
            since = await publish(js, chat_bound(pid))
            published = [
                await publish(js, message_updated(pid, n, text_size=8000)) for n in range(EVENTS)
            ]
            ws = await reader_that_waits(served, token({pid: "viewer"}))
            answer = await subscribe(ws, f"space:{pid}:messages", since=since)
            assert (answer["recovered"], answer["position"]) == (True, published[-1])
            await stalled_replay(js, pid)

            assert server.process is not None
            os.kill(server.process.pid, signal.SIGSTOP)
            received: list[int] = []
            reading = asyncio.create_task(read_until_closed(ws, received))
            try:
                await asyncio.sleep(FETCH_TIMEOUT + PROBE_TIMEOUT + 1)
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            live = await publish(js, message_updated(pid, EVENTS))
            try:
                code = await asyncio.wait_for(reading, 10)
            except TimeoutError:
                raise AssertionError(
                    f"still open after {len(received)} of {EVENTS} events, then {received[-1:]}"
                    f" (the live event was {live})"
                ) from None
            assert code == CloseCode.INTERNAL_ERROR
            assert 0 < len(received) < EVENTS
            assert received == published[: len(received)]  # what came has no gap
            await client.close()
    finally:
        server.stop()


async def test_replay_goes_on_when_its_consumer_disappears(nats_url, js, project_ids):
    """The replay consumer is deleted while the replay waits for room — what the server does
    to it after `inactive_threshold` without a fetch. The replay opens another one at the next
    sequence: every event arrives once, in order, then live."""
    settings = gateway_settings(nats_url, send_queue_size=4, replay_batch_size=8)
    async with running_gateway(settings) as served:
        pid = next(project_ids)
        since = await publish(js, chat_bound(pid))
        published = [
            await publish(js, message_updated(pid, n, text_size=8000)) for n in range(EVENTS)
        ]
        ws = await reader_that_waits(served, token({pid: "viewer"}))
        answer = await subscribe(ws, f"space:{pid}:messages", since=since)
        assert answer["recovered"] is True
        name = await stalled_replay(js, pid)
        await js.delete_consumer(STREAM, name)

        assert [f["seq"] for f in await events(ws, EVENTS)] == published
        live = await publish(js, chat_bound(pid, 1))
        assert [f["seq"] for f in await events(ws, 1)] == [live]
        await nothing_more(ws)
        await ws.close()
        filters = [info.config.filter_subject for info in await js.consumers_info(STREAM)]
        assert f"space.{pid}.messages.>" not in filters  # the second consumer is gone too


async def test_a_fetch_whose_consumer_is_deleted_meanwhile_finds_it_gone(js, project_ids):
    """A pull request still waiting when its consumer is deleted is answered "409 Consumer
    Deleted", which nats-py skips until the fetch times out. That timeout must lead to "the
    consumer is gone" (the replay opens another), not to "JetStream is silent" (the socket
    closed 1011) — what the replay test above met on a busy machine, whose fetch was still
    out when the consumer went."""
    pid = next(project_ids)
    after = await publish(js, chat_bound(pid))
    consumer = await ReplayConsumer.open(js, STREAM, f"space.{pid}.messages.>", after + 1)
    try:
        fetching = asyncio.create_task(consumer.fetch(8))  # nothing to read: the pull waits
        assert consumer.name is not None
        for _ in range(200):
            if (await js.consumer_info(STREAM, consumer.name)).num_waiting:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the fetch never reached the server")
        await js.delete_consumer(STREAM, consumer.name)
        assert await fetching == []
    finally:
        await consumer.close()

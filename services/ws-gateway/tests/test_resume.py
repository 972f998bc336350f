"""Resuming with `since`: every missed event, in order, then live — no gap, no duplicate."""

from __future__ import annotations

import asyncio
import contextlib

import nats

from tasktracker.devstack.embedded import EmbeddedNats

from .helpers import (
    GatewayProcess,
    chat_bound,
    connect_ws,
    events,
    gateway_settings,
    nothing_more,
    process_env,
    publish,
    run_started,
    running_gateway,
    subscribe,
    token,
)


async def test_resume_replays_exactly_the_missed_events_then_live(gateway, js, project_ids):
    pid = next(project_ids)
    tok = token({pid: "viewer"})
    topic = f"space:{pid}:messages"
    ws = await connect_ws(gateway.ws, tok)
    await subscribe(ws, topic)
    seen = [await publish(js, chat_bound(pid, n)) for n in range(3)]
    assert [f["seq"] for f in await events(ws, 3)] == seen
    await ws.close()

    missed = []
    for n in range(7):  # interleaved with another topic and another project
        missed.append(await publish(js, chat_bound(pid, n)))
        await publish(js, run_started(pid, n))
        await publish(js, chat_bound(next(project_ids), n))

    ws = await connect_ws(gateway.ws, tok)
    answer = await subscribe(ws, topic, since=seen[-1])
    assert answer["recovered"] is True
    assert answer["position"] >= missed[-1]
    replayed = await events(ws, 7)
    assert [f["seq"] for f in replayed] == missed
    assert all(f["topic"] == topic for f in replayed)
    assert [f["event"]["data"]["chat_id"] for f in replayed] == list(range(7))
    live = [await publish(js, chat_bound(pid, 100 + n)) for n in range(2)]
    assert [f["seq"] for f in await events(ws, 2)] == live
    await nothing_more(ws)
    await ws.close()
    # The replay's ephemeral consumer is gone once the replay is done.
    filters = [info.config.filter_subject for info in await js.consumers_info("SPACES")]
    assert f"space.{pid}.messages.>" not in filters


async def test_no_gap_and_no_duplicate_while_events_keep_coming(gateway, js, project_ids):
    """Resubscribe while a producer publishes continuously: the seam between replay and
    live must be invisible."""
    pid = next(project_ids)
    tok = token({pid: "viewer"})
    topic = f"space:{pid}:*"
    first = await publish(js, chat_bound(pid, 0))
    published = [first]
    stop = asyncio.Event()

    async def producer() -> None:
        n = 1
        while not stop.is_set():
            published.append(await publish(js, chat_bound(pid, n)))
            n += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(producer())
    try:
        for _ in range(5):
            # Each of these reads nothing and leaves mid-replay.
            ws = await connect_ws(gateway.ws, tok, close_timeout=0.2)
            await subscribe(ws, topic, since=first)
            await asyncio.sleep(0.05)
            await ws.close()
        await asyncio.sleep(0.1)
        ws = await connect_ws(gateway.ws, tok)
        await subscribe(ws, topic, since=first)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await task
    expected = published[1:]
    got = [f["seq"] for f in await events(ws, len(expected))]
    assert got == expected
    await nothing_more(ws)
    await ws.close()


async def test_resume_after_the_gateway_process_restarts(nats_url, js, project_ids, tmp_path):
    pid = next(project_ids)
    tok = token({pid: "viewer"})
    topic = f"space:{pid}:analysis_runs"
    gateway = GatewayProcess(process_env(nats_url), log=tmp_path / "gateway.log")
    served = await gateway.start()
    try:
        ws = await connect_ws(served.ws, tok)
        await subscribe(ws, topic)
        seen = [await publish(js, run_started(pid, n)) for n in range(2)]
        assert [f["seq"] for f in await events(ws, 2)] == seen
        await gateway.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.recv(), 5)  # the close of the dying gateway
        missed = [await publish(js, run_started(pid, n)) for n in range(5)]

        served = await gateway.start()
        ws = await connect_ws(served.ws, tok)
        answer = await subscribe(ws, topic, since=seen[-1])
        assert answer["recovered"] is True
        assert [f["seq"] for f in await events(ws, 5)] == missed
        live = await publish(js, run_started(pid, 99))
        assert [f["seq"] for f in await events(ws, 1)] == [live]
        await nothing_more(ws)
        await ws.close()
    finally:
        await gateway.stop()


async def test_since_beyond_the_stream_is_not_recovered(gateway, js, project_ids):
    pid = next(project_ids)
    last = await publish(js, chat_bound(pid))
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    answer = await subscribe(ws, f"space:{pid}:*", since=last + 1_000_000)
    assert (answer["recovered"], answer["position"]) == (False, last)
    live = await publish(js, chat_bound(pid))
    assert [f["seq"] for f in await events(ws, 1)] == [live]
    await ws.close()


async def test_subscribe_without_since_starts_at_position(gateway, js, project_ids):
    pid = next(project_ids)
    await publish(js, chat_bound(pid))
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    answer = await subscribe(ws, f"space:{pid}:*")
    assert answer["recovered"] is False  # nothing was asked to be recovered: load over REST
    live = await publish(js, chat_bound(pid))
    assert answer["position"] < live
    assert [f["seq"] for f in await events(ws, 1)] == [live]
    await nothing_more(ws)
    await ws.close()


async def test_since_older_than_retention_is_not_recovered(tmp_path, project_ids):
    """A stream that keeps events for one second, on a NATS server of this test's own."""
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    try:
        settings = gateway_settings(
            url, stream_max_age_seconds=1, stream_duplicate_window_seconds=0.5
        )
        async with running_gateway(settings) as served:
            client = await nats.connect(url)
            js = client.jetstream()
            pid = next(project_ids)
            tok = token({pid: "viewer"})
            old = [await publish(js, chat_bound(pid, n)) for n in range(3)]
            for _ in range(100):  # wait for the age limit to remove them
                state = (await js.stream_info(settings.stream_name)).state
                if state.first_seq > old[-1]:
                    break
                await asyncio.sleep(0.1)
            newer = await publish(js, chat_bound(pid, 3))

            ws = await connect_ws(served.ws, tok)
            answer = await subscribe(ws, f"space:{pid}:messages", since=old[0])
            assert (answer["recovered"], answer["position"]) == (False, newer)
            live = await publish(js, chat_bound(pid, 4))
            # Not recovered: no partial replay (the client reloads), live from `position`.
            assert [f["seq"] for f in await events(ws, 1)] == [live]
            await nothing_more(ws)

            # Resuming from a sequence the stream still holds works as usual.
            ws2 = await connect_ws(served.ws, tok)
            answer = await subscribe(ws2, f"space:{pid}:messages", since=newer)
            assert answer["recovered"] is True
            assert [f["seq"] for f in await events(ws2, 1)] == [live]
            for socket in (ws, ws2):
                await socket.close()
            await client.close()
    finally:
        server.stop()

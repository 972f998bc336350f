"""What one client can make the gateway hold: capped ids, a send queue bounded in bytes, a
number of sockets per token and per address, and replays that never stall anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import json

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasktracker.contracts.ws import MAX_FRAME_ID_LENGTH, CloseCode

from .helpers import (
    Served,
    chat_bound,
    connect_ws,
    events,
    gateway_settings,
    message_updated,
    metrics,
    publish,
    recv_json,
    running_gateway,
    send,
    small_window_socket,
    subscribe,
    token,
)


async def non_reader(served: Served, tok: str) -> ClientConnection:
    """A client that never reads: a tiny receive window, and a one-frame queue client-side."""
    port = int(served.host.rsplit(":", 1)[1])
    return await connect(
        served.ws,
        additional_headers={"Authorization": f"Bearer {tok}"},
        ping_interval=None,
        sock=small_window_socket(port),
        max_queue=1,
    )


async def close_code(ws: ClientConnection, within: float = 30) -> int:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    assert ws.close_code is not None
    return ws.close_code


async def settled(served: Served, **expected: float) -> dict[str, float]:
    """The metrics once they show `expected` (a socket's end is noticed asynchronously)."""
    for _ in range(400):  # 20 s
        stats = await metrics(served)
        if all(stats[name] == value for name, value in expected.items()):
            return stats
        await asyncio.sleep(0.05)
    return stats


async def test_long_ids_are_refused_not_echoed(gateway, project_ids):
    tok = token({next(project_ids): "viewer"})
    ws = await connect_ws(gateway.ws, tok)
    await send(ws, type="ping", id="x" * 3000)  # under the frame cap, over the id cap
    answer = await recv_json(ws)
    assert answer["type"] == "error" and answer["code"] == 400
    assert answer["id"] is None
    assert len(json.dumps(answer)) < 300
    await send(ws, type="ping", id="y" * MAX_FRAME_ID_LENGTH)
    assert await recv_json(ws) == {"type": "pong", "id": "y" * MAX_FRAME_ID_LENGTH}
    # A frame over the frame cap never reaches the gateway's code: 1009 from the server.
    await send(ws, type="ping", id="z" * 60_000)
    assert await close_code(ws, 5) == CloseCode.MESSAGE_TOO_BIG


async def test_a_client_that_pings_and_never_reads_is_cut_off_and_freed(nats_url, js):
    """The queue is bounded in bytes, not only in frames: a client that sends pings and never
    reads the pongs is closed with 4429 once its pongs fill the bytes, and what its queue held
    is let go when it closes."""
    settings = gateway_settings(nats_url, send_queue_size=100_000, send_queue_bytes=64 * 1024)
    async with running_gateway(settings) as served:
        ws = await non_reader(served, token({1: "viewer"}))
        frame = json.dumps({"type": "ping", "id": "p" * MAX_FRAME_ID_LENGTH})
        with contextlib.suppress(ConnectionClosed):
            for _ in range(100_000):  # ~15 MB of pongs: more than every buffer on the way
                await ws.send(frame)
        assert await close_code(ws) == CloseCode.SLOW_CONSUMER
        stats = await settled(served, tt_gateway_sockets=0)
        assert stats["tt_gateway_sockets"] == 0
        assert stats["tt_gateway_send_queue_bytes"] == 0
        assert stats["tt_gateway_slow_consumer_closes_total"] == 1


async def test_sockets_per_token_and_per_address(nats_url, js):
    settings = gateway_settings(nats_url, max_sockets_per_token=2, max_sockets_per_client=3)
    async with running_gateway(settings) as served:
        tok = token({1: "viewer"})
        first, second = [await connect_ws(served.ws, tok) for _ in range(2)]
        third = await connect_ws(served.ws, tok)
        assert await close_code(third, 5) == CloseCode.TOO_MANY_SOCKETS  # the token's limit
        carol = await connect_ws(served.ws, token({1: "viewer"}, sub="carol"))
        bob = await connect_ws(served.ws, token({1: "viewer"}, sub="bob"))
        assert await close_code(bob, 5) == CloseCode.TOO_MANY_SOCKETS  # the address's limit
        await first.close()
        await settled(served, tt_gateway_sockets=2)
        again = await connect_ws(served.ws, tok)  # the closed socket's place is free again
        await send(again, type="ping", id="still here")
        assert (await recv_json(again))["type"] == "pong"
        stats = await metrics(served)
        assert stats["tt_gateway_too_many_sockets_closes_total"] == 2
        for ws in (second, carol, again):
            await ws.close()


async def test_a_stalled_replay_stops_no_other_resume(nats_url, js, project_ids):
    """With one replay slot, a socket that never reads while its replay waits for room must
    not stop another project's client from resuming; it is closed with 4429 instead."""
    settings = gateway_settings(
        nats_url,
        max_concurrent_replays=1,
        send_queue_size=4,
        replay_batch_size=8,
        replay_drain_timeout_seconds=2,
        close_timeout_seconds=30,  # the close frame waits for the stalled client to read
    )
    stalled_pid, other_pid = next(project_ids), next(project_ids)
    async with running_gateway(settings) as served:
        since = await publish(js, chat_bound(stalled_pid))
        for n in range(600):  # ~5 MB: more than the socket buffers toward a client hold
            await publish(js, message_updated(stalled_pid, n, text_size=8000))
        other_since = await publish(js, chat_bound(other_pid))
        missed = [await publish(js, chat_bound(other_pid, n)) for n in range(1, 4)]

        stalled = await non_reader(served, token({stalled_pid: "viewer"}))
        await send(stalled, type="subscribe", id="s", topic=f"space:{stalled_pid}:*", since=since)
        other = await connect_ws(served.ws, token({other_pid: "viewer"}))
        answer = await subscribe(other, f"space:{other_pid}:*", since=other_since)
        assert answer["recovered"] is True
        assert [frame["seq"] for frame in await events(other, 3, within=30)] == missed

        # Still not reading, the stalled client is cut off; reading now, it gets the close.
        stats = await settled(served, tt_gateway_slow_consumer_closes_total=1)
        assert stats["tt_gateway_slow_consumer_closes_total"] == 1
        assert await close_code(stalled) == CloseCode.SLOW_CONSUMER
        await other.close()

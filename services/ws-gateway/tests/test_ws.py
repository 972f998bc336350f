"""The WebSocket protocol: auth, isolation, frames, live fan-out, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tasktracker.contracts.ws import CloseCode

from .helpers import (
    chat_bound,
    connect_ws,
    events,
    gateway_settings,
    metrics,
    nothing_more,
    publish,
    recv_json,
    run_started,
    running_gateway,
    send,
    subscribe,
    token,
)


async def closed_with(ws) -> int:
    """Read until the server closes; no event may arrive before the close."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["type"] != "event", frame
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "wrong-key"])
async def test_bad_tokens_close_4401_before_any_event(gateway, js, project_ids, kind):
    pid = next(project_ids)
    tok = {
        "missing": None,
        "garbage": "not.a.token",
        "expired": token({pid: "viewer"}, ttl=-10),
        "wrong-key": token({pid: "viewer"}, key="some-other-secret-that-is-32-bytes-long"),
    }[kind]
    await publish(js, chat_bound(pid))
    ws = await connect_ws(gateway.ws, tok)
    with contextlib.suppress(ConnectionClosed):  # the close may already be on its way
        await send(ws, type="subscribe", id="s", topic=f"space:{pid}:*", since=0)
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_token_in_query_string(gateway, js, project_ids):
    pid = next(project_ids)
    async with connect(f"{gateway.ws}?token={token({pid: 'viewer'})}", ping_interval=None) as ws:
        await subscribe(ws, f"space:{pid}:messages")
        seq = await publish(js, chat_bound(pid))
        [frame] = await events(ws, 1)
        assert frame["seq"] == seq


async def test_connection_closes_4401_when_the_token_expires(gateway, js, project_ids):
    pid = next(project_ids)
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}, ttl=2))
    await subscribe(ws, f"space:{pid}:*")
    seq = await publish(js, chat_bound(pid))
    assert (await events(ws, 1))[0]["seq"] == seq
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == CloseCode.UNAUTHORIZED


async def test_isolation_between_projects(gateway, js, project_ids):
    one, two = next(project_ids), next(project_ids)
    ws = await connect_ws(gateway.ws, token({one: "admin"}))
    await subscribe(ws, f"space:{one}:*")
    for topic in (f"space:{two}:*", f"space:{two}:messages"):
        await send(ws, type="subscribe", id="peek", topic=topic, since=0)
        assert await recv_json(ws) == {
            "type": "error",
            "id": "peek",
            "code": 403,
            "message": f"not allowed to see {topic}",
        }
    await publish(js, chat_bound(two))
    await publish(js, run_started(two))
    mine = await publish(js, chat_bound(one))
    # The socket stayed open and got exactly project one's event.
    [frame] = await events(ws, 1)
    assert (frame["seq"], frame["event"]["project_id"]) == (mine, one)
    await nothing_more(ws)
    await ws.close()


async def test_global_admin_may_subscribe_anywhere(gateway, js, project_ids):
    pid = next(project_ids)
    ws = await connect_ws(gateway.ws, token(admin=True))
    await subscribe(ws, f"space:{pid}:analysis_runs")
    seq = await publish(js, run_started(pid))
    assert (await events(ws, 1))[0]["seq"] == seq
    await ws.close()


async def test_topics_wildcards_and_order(gateway, js, project_ids):
    pid = next(project_ids)
    runs_ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    all_ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    sub = await subscribe(runs_ws, f"space:{pid}:analysis_runs")
    await subscribe(all_ws, f"space:{pid}:*")
    seqs = []
    for n in range(10):
        seqs.append(await publish(js, (run_started if n % 2 else chat_bound)(pid, n)))
    run_frames = await events(runs_ws, 5)
    all_frames = await events(all_ws, 10)
    assert [f["seq"] for f in run_frames] == seqs[1::2]
    assert all(f["topic"] == f"space:{pid}:analysis_runs" for f in run_frames)
    assert all(f["event"]["type"] == "run_started" for f in run_frames)
    assert [f["seq"] for f in all_frames] == seqs
    assert {f["topic"] for f in all_frames} == {f"space:{pid}:*"}
    assert all(f["seq"] > sub["position"] for f in run_frames)
    for ws in (runs_ws, all_ws):
        await nothing_more(ws)
        await ws.close()


async def test_malformed_frames_get_error_frames_and_the_socket_stays_usable(
    gateway, js, project_ids
):
    pid = next(project_ids)
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    cases = [
        ("{not json", None, "invalid JSON"),
        ("[1, 2]", None, "frame must be a JSON object"),
        ('{"id": "a"}', "a", "missing field 'type'"),
        ('{"type": "dance", "id": "b"}', "b", "unknown frame type 'dance'"),
        ('{"type": "subscribe", "id": "c"}', "c", "missing field 'topic'"),
        (
            '{"type": "subscribe", "id": "d", "topic": "space:1:x", "snice": 3}',
            "d",
            "unknown field 'snice'",
        ),
        ('{"type": "subscribe", "id": "e", "topic": "space:1:messages", "since": -1}', "e", None),
        (json.dumps({"type": "subscribe", "id": "f", "topic": f"space:{pid}:bogus"}), "f", None),
        ('{"type": "subscribe", "id": "g", "topic": "room:1:messages"}', "g", None),
        ('{"type": "subscribe", "id": "h", "topic": "space:01:messages"}', "h", None),
        ('{"type": "unsubscribe", "id": "i", "topic": "nope"}', "i", None),
    ]
    for raw, frame_id, message in cases:
        await ws.send(raw)
        error = await recv_json(ws)
        assert (error["type"], error["id"], error["code"]) == ("error", frame_id, 400), raw
        if message:
            assert error["message"] == message
    await send(ws, type="ping", id="p")
    assert await recv_json(ws) == {"type": "pong", "id": "p"}
    await subscribe(ws, f"space:{pid}:messages")
    await send(ws, type="subscribe", id="again", topic=f"space:{pid}:messages")
    assert (await recv_json(ws))["code"] == 409
    seq = await publish(js, chat_bound(pid))
    assert (await events(ws, 1))[0]["seq"] == seq
    await ws.close()


async def test_binary_frames_close_4400(gateway, project_ids):
    ws = await connect_ws(gateway.ws, token({next(project_ids): "viewer"}))
    await ws.send(b"\x00\x01")
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == CloseCode.BAD_PROTOCOL


async def test_oversized_frames_close_1009(gateway, project_ids):
    ws = await connect_ws(gateway.ws, token({next(project_ids): "viewer"}))
    await ws.send("x" * (64 * 1024 + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1009


async def test_unsubscribe_stops_delivery(gateway, js, project_ids):
    pid = next(project_ids)
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    await subscribe(ws, f"space:{pid}:messages", sid="m")
    await subscribe(ws, f"space:{pid}:analysis_runs", sid="r")
    await send(ws, type="unsubscribe", id="u", topic=f"space:{pid}:messages")
    assert await recv_json(ws) == {
        "type": "unsubscribed",
        "id": "u",
        "topic": f"space:{pid}:messages",
    }
    await publish(js, chat_bound(pid))
    seq = await publish(js, run_started(pid))
    [frame] = await events(ws, 1)
    assert frame["seq"] == seq
    await nothing_more(ws)
    await ws.close()


async def test_metrics_count_sockets_and_subscriptions(gateway, project_ids):
    pid = next(project_ids)
    before = await metrics(gateway)
    sockets = [await connect_ws(gateway.ws, token({pid: "viewer"})) for _ in range(3)]
    for n, ws in enumerate(sockets):
        await subscribe(ws, f"space:{pid}:messages")
        if n == 0:
            await subscribe(ws, f"space:{pid}:*", sid="s2")
    during = await metrics(gateway)
    assert during["tt_gateway_sockets"] - before["tt_gateway_sockets"] == 3
    assert during["tt_gateway_subscriptions"] - before["tt_gateway_subscriptions"] == 4
    for ws in sockets:
        await ws.close()
    for _ in range(50):
        after = await metrics(gateway)
        if after["tt_gateway_sockets"] == before["tt_gateway_sockets"]:
            break
        await asyncio.sleep(0.05)
    assert after["tt_gateway_sockets"] == before["tt_gateway_sockets"]
    assert after["tt_gateway_subscriptions"] == before["tt_gateway_subscriptions"]


async def test_invalid_events_are_not_relayed(gateway, js, project_ids):
    """The subject decides who sees an event, so an envelope that disagrees with it is
    dropped rather than shown (a producer bug must not leak another project's data)."""
    pid, other = next(project_ids), next(project_ids)
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    await subscribe(ws, f"space:{pid}:*")
    liar = chat_bound(other)
    await js.publish(f"space.{pid}.messages.ingestion.chat_bound", liar.to_bytes())
    await js.publish(f"space.{pid}.messages.ingestion.chat_bound", b"not json")
    seq = await publish(js, chat_bound(pid))
    [frame] = await events(ws, 1)
    assert frame["seq"] == seq
    await ws.close()


async def test_dead_sockets_are_dropped_by_server_pings(nats_url, js, project_ids):
    """A peer that completed the handshake and then went silent (no pong) is dropped."""
    settings = gateway_settings(nats_url, ping_interval_seconds=0.3, ping_timeout_seconds=0.3)
    async with running_gateway(settings) as served:
        host, port = served.host.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                "GET /ws HTTP/1.1\r\n"
                f"Host: {served.host}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token({next(project_ids): 'viewer'})}\r\n\r\n"
            ).encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        assert (await metrics(served))["tt_gateway_sockets"] == 1
        for _ in range(50):  # it never answers a ping
            await asyncio.sleep(0.1)
            if (await metrics(served))["tt_gateway_sockets"] == 0:
                break
        assert (await metrics(served))["tt_gateway_sockets"] == 0
        writer.close()


async def test_metrics_count_replays_and_replayed_events(gateway, js, project_ids):
    pid = next(project_ids)
    first = await publish(js, chat_bound(pid))
    await publish(js, run_started(pid))
    before = await metrics(gateway)
    ws = await connect_ws(gateway.ws, token({pid: "viewer"}))
    await subscribe(ws, f"space:{pid}:*", since=first - 1)
    assert len(await events(ws, 2)) == 2
    await ws.close()
    after = await metrics(gateway)
    assert after["tt_gateway_replays_total"] - before["tt_gateway_replays_total"] == 1
    replayed = (
        after["tt_gateway_replayed_events_total"] - before["tt_gateway_replayed_events_total"]
    )
    assert replayed == 2

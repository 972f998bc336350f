"""A client that stops reading is cut off with 4429; everyone else keeps getting everything."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tasktracker.contracts.ws import CloseCode

from .helpers import (
    GatewayProcess,
    message_updated,
    metrics,
    process_env,
    publish,
    small_window_socket,
    subscribe,
    token,
)

EVENTS = 1500


async def test_slow_client_is_disconnected_fast_client_gets_every_event(
    nats_url, js, project_ids, tmp_path
):
    pid = next(project_ids)
    topic = f"space:{pid}:messages"
    tok = token({pid: "viewer"})
    gateway = GatewayProcess(
        process_env(
            nats_url, TT_GATEWAY_SEND_QUEUE_SIZE="64", TT_GATEWAY_CLOSE_TIMEOUT_SECONDS="30"
        ),
        log=tmp_path / "gateway.log",
    )
    served = await gateway.start()
    try:
        headers = {"Authorization": f"Bearer {tok}"}
        fast = await connect(served.ws, additional_headers=headers, ping_interval=None)
        slow = await connect(
            served.ws,
            additional_headers=headers,
            ping_interval=None,
            sock=small_window_socket(gateway.port),
            max_queue=1,
        )
        await subscribe(fast, topic)
        await subscribe(slow, topic)

        received: list[int] = []

        async def read_fast() -> None:
            while len(received) < EVENTS:
                frame = json.loads(await fast.recv())
                assert frame["type"] == "event", frame
                received.append(frame["seq"])

        reader = asyncio.create_task(read_fast())
        # ~6 MB in all: more than loopback's socket buffers and the send queue can hold.
        published = [
            await publish(js, message_updated(pid, n, text_size=4000)) for n in range(EVENTS)
        ]
        await asyncio.wait_for(reader, 30)
        assert received == published

        stats = await metrics(served)
        assert stats["tt_gateway_slow_consumer_closes_total"] == 1
        assert stats["tt_gateway_sockets"] == 1  # only the fast one is left

        # The slow client now reads what reached it, in order and without a gap, then the
        # close frame with the documented code.
        got: list[int] = []
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(slow.recv(), 10))
                got.append(frame["seq"])
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            assert closed.rcvd.code == CloseCode.SLOW_CONSUMER
        assert 0 < len(got) < EVENTS
        assert got == published[: len(got)]
        await fast.close()
    finally:
        await gateway.stop()

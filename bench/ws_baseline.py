"""The fan-out benchmark's baseline: a plain `websockets` server that holds the sockets of the
same client processes and sends each event of the project's subject on NATS to all of them
with `websockets.broadcast` — the same frame the gateway sends, without its protocol state
(tokens, per-socket queues, replay). It answers `subscribe` with `subscribed` and
`GET /readyz` with 200.

    python -m bench.ws_baseline --port 8765 --nats-url nats://127.0.0.1:4222 --project 42
"""

from __future__ import annotations

import argparse
import asyncio
import json
from http import HTTPStatus

import nats
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response


async def serve_baseline(port: int, nats_url: str, project: int) -> None:
    sockets: set[ServerConnection] = set()
    topic = f"space:{project}:messages"

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "subscribe":
                sockets.add(ws)
                answer = {"type": "subscribed", "id": message.get("id"), "topic": topic}
                await ws.send(json.dumps({**answer, "recovered": False, "position": 0}))
        sockets.discard(ws)

    def readyz(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/readyz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        return None

    async def on_event(msg) -> None:
        envelope = json.loads(msg.data)
        frame = {"type": "event", "topic": topic, "seq": 0, "event": envelope}
        broadcast(sockets, json.dumps(frame))

    client = await nats.connect(nats_url)
    await client.subscribe(f"space.{project}.messages.>", cb=on_event)
    async with serve(
        handler, "127.0.0.1", port, process_request=readyz, ping_interval=None
    ) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--project", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve_baseline(args.port, args.nats_url, args.project))


if __name__ == "__main__":
    main()

"""Helpers of the gateway's tests: serving apps under real uvicorn, tokens, events, frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import uvicorn
from nats.js import JetStreamContext
from websockets.asyncio.client import ClientConnection, connect

from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import (
    ChatBound,
    MessageAuthor,
    MessageRecord,
    MessageUpdated,
    RunStarted,
    make_envelope,
)
from tasktracker.contracts.primitives import utc_now
from tasktracker.contracts.ws import ServerFrame, parse_server_frame
from tasktracker.gateway.app import create_app, server_config
from tasktracker.gateway.auth import issue_token
from tasktracker.gateway.settings import DEFAULT_ROUTES, GatewaySettings

SECRET = "test-secret-of-the-gateway-at-least-32-bytes"


def small_window_socket(port: int) -> socket.socket:
    """A TCP socket with a tiny receive buffer, so that a client that does not read makes
    the server's writes back up after a few kilobytes instead of a few megabytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def token(
    projects: Mapping[int, str] | None = None,
    *,
    sub: str = "alice",
    admin: bool = False,
    ttl: float = 3600,
    key: str | bytes = SECRET,
    algorithm: str = "HS256",
) -> str:
    return issue_token(
        key, sub=sub, projects=projects or {}, admin=admin, ttl_seconds=ttl, algorithm=algorithm
    )


def gateway_settings(nats_url: str, upstream: str | None = None, **overrides: Any):
    routes = {prefix: upstream for prefix in DEFAULT_ROUTES} if upstream else DEFAULT_ROUTES
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "jwt_secret": SECRET,
        "routes": routes,
        "log_level": "WARNING",
        "jwt_leeway_seconds": 0,  # so that a test token expires when its test says
        "metrics": "public",
    }
    values.update(overrides)
    return GatewaySettings(**values)


@dataclass
class Served:
    host: str
    app: Any = None

    @property
    def http(self) -> str:
        return f"http://{self.host}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}/ws"


@contextlib.asynccontextmanager
async def serve(config: uvicorn.Config) -> AsyncIterator[None]:
    """Run an ASGI app under a real uvicorn server in this event loop."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn exited before it started")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_gateway(settings: GatewaySettings, **overrides: Any) -> AsyncIterator[Served]:
    port = free_port()
    app = create_app(settings)
    options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "log_level": "warning"}
    config = server_config(settings, app, **{**options, **overrides})
    async with serve(config):
        yield Served(f"127.0.0.1:{port}", app)


class GatewayProcess:
    """The gateway as its own OS process, started with the `tasktracker-gateway api` command."""

    def __init__(self, env: Mapping[str, str], port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def served(self) -> Served:
        return Served(f"127.0.0.1:{self.port}")

    async def start(self) -> Served:
        command = [str(Path(sys.executable).with_name("tasktracker-gateway")), "api"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        output = self.log.open("ab") if self.log else asyncio.subprocess.DEVNULL
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command, env=self.env, stdout=output, stderr=output
            )
        finally:
            if self.log:
                output.close()
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"gateway exited with {self.process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.served.http}/readyz")).status_code == 200:
                        return self.served
                await asyncio.sleep(0.1)
        raise TimeoutError("gateway did not become ready")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def process_env(nats_url: str, **extra: str) -> dict[str, str]:
    return {
        "TT_GATEWAY_NATS_URL": nats_url,
        "TT_GATEWAY_JWT_SECRET": SECRET,
        "TT_GATEWAY_LOG_LEVEL": "WARNING",
        "TT_GATEWAY_METRICS": "public",
        **extra,
    }


# -- events ----------------------------------------------------------------------------------


def chat_bound(project_id: int, n: int = 0) -> Envelope:
    return make_envelope(
        ChatBound(chat_id=n, released_parked=0), project_id=project_id, producer="gateway-test"
    )


def run_started(project_id: int, n: int = 0) -> Envelope:
    payload = RunStarted(run_id=uuid4(), total_messages=n, total_batches=1)
    return make_envelope(payload, project_id=project_id, producer="gateway-test")


def message_updated(project_id: int, n: int = 0, text_size: int = 40) -> Envelope:
    record = MessageRecord(
        id=n,
        project_id=project_id,
        chat_id=-100,
        message_id=n,
        author=MessageAuthor(display_name="Alice"),
        text=f"m{n} ".ljust(text_size, "x"),
        kind=MessageKind.text,
        sent_at=utc_now(),
    )
    return make_envelope(
        MessageUpdated(message=record), project_id=project_id, producer="gateway-test"
    )


async def publish(js: JetStreamContext, envelope: Envelope) -> int:
    """Publish like a service's outbox relay does; returns the stream sequence."""
    ack = await js.publish(
        envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
    )
    return ack.seq


# -- frames ----------------------------------------------------------------------------------


async def connect_ws(url: str, tok: str | None = None, **kwargs: Any) -> ClientConnection:
    headers = {"Authorization": f"Bearer {tok}"} if tok else None
    return await connect(url, additional_headers=headers, ping_interval=None, **kwargs)


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps(frame))


async def recv(ws: ClientConnection, within: float = 5) -> ServerFrame:
    return parse_server_frame(await asyncio.wait_for(ws.recv(), within))


async def recv_json(ws: ClientConnection, within: float = 5) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def subscribe(ws: ClientConnection, topic: str, since: int | None = None, sid: str = "s1"):
    frame: dict[str, Any] = {"type": "subscribe", "id": sid, "topic": topic}
    if since is not None:
        frame["since"] = since
    await send(ws, **frame)
    answer = await recv_json(ws)
    assert answer["type"] == "subscribed", answer
    return answer


async def events(ws: ClientConnection, n: int, within: float = 10) -> list[dict[str, Any]]:
    """The next `n` frames, which must all be events."""
    got = []
    for _ in range(n):
        frame = await recv_json(ws, within)
        assert frame["type"] == "event", frame
        got.append(frame)
    return got


async def nothing_more(ws: ClientConnection, wait: float = 0.3) -> None:
    with contextlib.suppress(TimeoutError):
        frame = await asyncio.wait_for(ws.recv(), wait)
        raise AssertionError(f"unexpected frame {frame}")


async def metrics(served: Served) -> dict[str, float]:
    from tasktracker.gateway.metrics import parse

    async with httpx.AsyncClient() as client:
        return parse((await client.get(f"{served.http}/metrics")).text)


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}

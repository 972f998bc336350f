"""The gateway's own HTTP/1.1 front (`http_front`): small proxied requests answered in place,
the rest by uvicorn's cycle, on one connection and in the order they came; a client that
leaves, an HTTP/1.0 client and a service that drops a connection, each handled as uvicorn's
path handles them. The upstream is a scripted server (`raw_http`), the client a raw socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httptools
import pytest

from .helpers import auth, gateway_settings, running_gateway, token
from .raw_http import Peer, answer_each, ok, raw_server


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """A protocol callback that raises (in `connection_lost`, say) only reaches the event
    loop's exception handler: each test here fails on one."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield
    loop.set_exception_handler(previous)
    assert not errors, errors


@contextlib.asynccontextmanager
async def gateway_to(nats_url: str, upstream: str) -> AsyncIterator[tuple[str, int]]:
    settings = gateway_settings(nats_url, upstream, upstream_timeout_seconds=5)
    async with running_gateway(settings) as served:
        host, port = served.host.split(":")
        yield host, int(port)


def request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "host: gateway"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Answers:
    """The answers read off one client connection, in order: (status, body)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, bytes]] = []
        self.body = b""

    async def next(self, count: int = 1) -> list[tuple[int, bytes]]:
        wanted = len(self.done) + count
        while len(self.done) < wanted:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "the gateway closed the connection"
            self.parser.feed_data(data)
        return self.done[wanted - count : wanted]

    def on_message_begin(self) -> None:
        self.body = b""

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self.body))


async def test_pipelined_requests_are_answered_in_order_whichever_path_serves_them(nats_url, js):
    pid = 7001
    tok = auth(token({pid: "pm"}))
    async with raw_server(answer_each) as upstream, gateway_to(nats_url, upstream.url) as addr:
        reader, writer = await asyncio.open_connection(*addr)
        # The first is answered in place; those behind it wait in uvicorn's queue.
        writer.write(
            request("GET", f"/api/projects/{pid}/messages?page=1", tok)
            + request("GET", f"/api/projects/{pid}/runs", {**tok, "expect": "100-continue"})
            + request("POST", f"/api/projects/{pid}/runs", tok, b'{"a": 1}')
            + request("GET", "/healthz", {})  # the app's own route
        )
        answers = await Answers(reader).next(4)
        writer.close()
    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert answers[0][1] == f"GET /api/projects/{pid}/messages?page=1 HTTP/1.1".encode()
    assert answers[1][1] == f"GET /api/projects/{pid}/runs HTTP/1.1".encode()
    assert answers[2][1] == f"POST /api/projects/{pid}/runs HTTP/1.1".encode()
    assert b"ok" in answers[3][1]


async def test_an_http_1_0_client_gets_its_answer_and_the_connection_closes(nats_url, js):
    pid = 7002
    async with raw_server(answer_each) as upstream, gateway_to(nats_url, upstream.url) as addr:
        reader, writer = await asyncio.open_connection(*addr)
        head = f"GET /api/projects/{pid}/runs HTTP/1.0\r\nauthorization: Bearer "
        writer.write(head.encode() + token({pid: "viewer"}).encode() + b"\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)  # to EOF: the gateway closed it
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"connection: close" in head.lower()
    assert body == f"GET /api/projects/{pid}/runs HTTP/1.1".encode()


async def test_a_client_gone_before_the_answer_leaves_the_upstream_connection_usable(nats_url, js):
    pid = 7003
    go_on = asyncio.Event()

    async def answer_late(peer: Peer) -> None:
        while (received := await peer.request()) is not None:
            await go_on.wait()
            await peer.answer(ok(received.line))

    async with raw_server(answer_late) as upstream, gateway_to(nats_url, upstream.url) as addr:
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(request("GET", f"/api/projects/{pid}/runs", auth(token({pid: "viewer"}))))
        await writer.drain()
        while not upstream.peers:  # the request reached the service
            await asyncio.sleep(0.01)
        writer.close()
        await asyncio.sleep(0.05)
        go_on.set()  # answered to a client who left

        reader, writer = await asyncio.open_connection(*addr)
        writer.write(request("GET", f"/api/projects/{pid}/tasks", auth(token({pid: "viewer"}))))
        [(status, body)] = await Answers(reader).next()
        writer.close()
    assert (status, body) == (200, f"GET /api/projects/{pid}/tasks HTTP/1.1".encode())
    assert upstream.connections == 1  # the first answer was read whole: the connection reused


async def test_a_connection_the_service_dropped_is_tried_again_for_a_get_never_a_post(nats_url, js):
    pid = 7004
    tok = auth(token({pid: "pm"}))

    async def answer_once_then_drop(peer: Peer) -> None:
        first = await peer.request()
        assert first is not None
        await peer.answer(ok(first.line))
        await peer.request()  # the next one is read, never answered: the service dropped it

    async with (
        raw_server(answer_once_then_drop) as upstream,
        gateway_to(nats_url, upstream.url) as addr,
    ):
        reader, writer = await asyncio.open_connection(*addr)
        answers = Answers(reader)
        runs = f"/api/projects/{pid}/runs"
        # One at a time, so that each is answered in place; each connection of the service
        # answers one request and drops the next.
        for method in ("GET", "GET", "POST", "POST"):
            writer.write(request(method, runs, tok, b"{}" if method == "POST" else b""))
            await answers.next()
        writer.close()
    assert answers.done == [
        (200, f"GET {runs} HTTP/1.1".encode()),  # connection 1
        (200, f"GET {runs} HTTP/1.1".encode()),  # dropped by 1, sent again on 2
        answers.done[2],  # dropped by 2: a POST may have reached it, never sent twice
        (200, f"POST {runs} HTTP/1.1".encode()),  # connection 3
    ]
    assert answers.done[2][0] == 502
    assert b"upstream service failed" in answers.done[2][1]
    assert upstream.connections == 3

"""The gateway's upstream client against real local servers scripted byte by byte
(`raw_http`): framing, keep-alive and the pool, backpressure, timeouts and failures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from starlette.requests import ClientDisconnect

from tasktracker.gateway.upstream import (
    BadHeaderValue,
    BodyTooLarge,
    RequestBody,
    UpstreamFailed,
    UpstreamPool,
    UpstreamTimeout,
    UpstreamUnavailable,
    send,
)
from tasktracker.gateway.upstream_connection import HIGH_WATER

from .helpers import free_port
from .raw_http import Peer, answer_each, ok, raw_server


@contextlib.asynccontextmanager
async def pool(**overrides: float) -> AsyncIterator[UpstreamPool]:
    options = {"max_connections": 10, "connect_timeout": 1.0, "read_timeout": 1.0, **overrides}
    options.setdefault("keepalive", 30.0)
    upstream_pool = UpstreamPool(**options)  # type: ignore[arg-type]
    try:
        yield upstream_pool
    finally:
        await upstream_pool.close()


async def get(p: UpstreamPool, url: str, target: str = "/", method: str = "GET") -> bytes:
    answer = await send(p, url, method, target, [], None)
    try:
        return await answer.read()
    finally:
        answer.release()


async def test_the_request_goes_out_as_given_and_nothing_is_added():
    seen = []

    async def record(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            seen.append(request)
            await peer.answer(ok())

    headers = [(b"x-one", b"1"), (b"cookie", "josé".encode()), (b"x-one", b"2")]
    async with raw_server(record) as server, pool() as p:
        answer = await send(p, server.url + "/base/", "POST", "/a%2Fb/c?x=%20&y", headers, b"{}")
        assert await answer.read() == b"ok"
        answer.release()
        await get(p, server.url, "/empty")
    post, empty = seen
    assert post.line == b"POST /base/a%2Fb/c?x=%20&y HTTP/1.1"
    assert post.headers == [
        (b"host", f"127.0.0.1:{server.port}".encode()),
        *headers,
        (b"content-length", b"2"),
    ]
    assert post.body == b"{}"
    assert empty.headers == [(b"host", f"127.0.0.1:{server.port}".encode())]


async def test_header_values_that_would_change_on_the_way_are_refused():
    async with raw_server(answer_each) as server, pool() as p:
        for value in (b"a\r\nx-actor: admin", b"a\nb", b"caf\xe9", b"nul\0"):
            with pytest.raises(BadHeaderValue):
                await send(p, server.url, "GET", "/", [(b"x-bad", value)], None)
        assert server.connections == 0


async def test_one_connection_serves_request_after_request():
    async with raw_server(answer_each) as server, pool() as p:
        for n in range(5):
            assert await get(p, server.url, f"/{n}") == f"GET /{n} HTTP/1.1".encode()
        assert server.connections == 1


async def test_idle_connections_are_reused_last_in_first_out():
    async with raw_server(answer_each) as server, pool() as p:
        origin = p.origin(server.url)
        first, second = await asyncio.gather(
            send(p, server.url, "GET", "/1", [], None), send(p, server.url, "GET", "/2", [], None)
        )
        for answer in (first, second):
            await answer.read()
            answer.release()
        warmest = origin.idle[-1]
        assert await get(p, server.url) and origin.idle[-1] is warmest
        assert server.connections == 2


async def test_chunked_answer_with_raw_headers_kept():
    async def chunked(peer: Peer) -> None:
        await peer.request()
        head = b"HTTP/1.1 201 Created\r\nX-Case: A\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n"
        await peer.answer(head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await asyncio.sleep(0.05)
        await peer.answer(b"6\r\n world\r\n0\r\n\r\n")
        await answer_each(peer)

    async with raw_server(chunked) as server, pool() as p:
        answer = await send(p, server.url, "GET", "/", [], None)
        assert answer.status == 201
        assert answer.raw_headers[:3] == [
            (b"X-Case", b"A"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ]
        assert answer.content_length is None
        parts = [await answer.next_chunk(), await answer.next_chunk(), await answer.next_chunk()]
        assert parts == [b"hello", b" world", b""]
        answer.release()
        assert await get(p, server.url, "/again") == b"GET /again HTTP/1.1"
        assert server.connections == 1


async def test_a_body_delimited_by_the_close_of_the_connection():
    async def until_close(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"HTTP/1.1 200 OK\r\n\r\nall of ")
        await peer.answer(b"it")
        peer.writer.close()

    async with raw_server(until_close) as server, pool() as p:
        assert await get(p, server.url) == b"all of it"
        assert await get(p, server.url) == b"all of it"
        assert server.connections == 2


async def test_connection_close_is_honoured():
    async def close_after(peer: Peer) -> None:
        await peer.request()
        await peer.answer(ok(b"bye", b"connection: close"))
        assert await peer.closed_by_client()

    async with raw_server(close_after) as server, pool() as p:
        assert await get(p, server.url) == b"bye"
        assert await get(p, server.url) == b"bye"
        assert server.connections == 2
        assert p.open_connections == 0


async def test_informational_answers_are_skipped_and_some_answers_have_no_body():
    async def various(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            if request.line.startswith(b"POST"):
                await peer.answer(b"HTTP/1.1 100 Continue\r\n\r\n")
                await peer.answer(ok(b"created"))
            elif request.line.startswith(b"HEAD"):
                await peer.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
            else:
                await peer.answer(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with raw_server(various) as server, pool() as p:
        answer = await send(p, server.url, "POST", "/", [], b"x")
        assert (answer.status, await answer.read()) == (200, b"created")
        answer.release()
        assert await get(p, server.url) == b""
        assert server.connections == 1
        head = await send(p, server.url, "HEAD", "/", [], None)
        assert (head.status, head.content_length, await head.read()) == (200, 1234, b"")
        head.release()  # closed: the parser would take the next answer for this one's body
        assert await get(p, server.url) == b""
        assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_never_handed_out():
    async def one_each(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        await peer.answer(ok(request.body))

    async with raw_server(one_each) as server, pool() as p:
        for n in range(3):
            answer = await send(p, server.url, "POST", "/webhook", [], b"%d" % n)
            assert await answer.read() == b"%d" % n
            answer.release()
            await asyncio.sleep(0.05)  # the server's close arrives while the connection idles
        assert server.connections == 3


async def test_a_safe_request_is_sent_again_when_a_reused_connection_was_closed_and_a_post_not():
    received: list[bytes] = []

    async def drops_the_second(peer: Peer) -> None:
        # The race a pool cannot see coming: the server closes a kept-alive connection as the
        # next request arrives on it.
        request = await peer.request()
        assert request is not None
        received.append(request.line)
        await peer.answer(ok())
        request = await peer.request()
        if request is not None:
            received.append(request.line)

    async with raw_server(drops_the_second) as server, pool() as p:
        assert await get(p, server.url, "/first") == b"ok"
        assert await get(p, server.url, "/again") == b"ok"  # once more, on a new connection
        assert received == [b"GET /first HTTP/1.1", b"GET /again HTTP/1.1", b"GET /again HTTP/1.1"]
        received.clear()
        with pytest.raises(UpstreamFailed):
            await get(p, server.url, "/webhook", method="POST")
        assert received == [b"POST /webhook HTTP/1.1"]  # never twice


async def test_a_slow_upstream_times_out_each_wait():
    async def slow(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await asyncio.sleep(0.3)
        await peer.answer(b"def")  # each piece within the timeout: no timeout
        await asyncio.sleep(5)

    async with raw_server(slow) as server, pool(read_timeout=0.5) as p:
        answer = await send(p, server.url, "GET", "/", [], None)
        assert await answer.next_chunk() == b"abc"
        assert await answer.next_chunk() == b"def"
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await answer.next_chunk()
        assert 0.5 <= time.monotonic() - started < 3  # the sweep's 0.05 s, or a busy machine
        answer.release()
        assert p.open_connections == 0


async def test_garbage_is_not_http():
    async def garbage(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await asyncio.sleep(1)

    async with raw_server(garbage) as server, pool() as p:
        with pytest.raises(UpstreamFailed, match="not HTTP"):
            await get(p, server.url)


async def test_a_connection_broken_mid_body_fails_the_read():
    async def breaks(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        peer.writer.transport.abort()

    async with raw_server(breaks) as server, pool() as p:
        answer = await send(p, server.url, "GET", "/", [], None)
        with pytest.raises(UpstreamFailed):
            await answer.read()
        answer.release()


async def test_refused_is_unavailable():
    async with pool() as p:
        with pytest.raises(UpstreamUnavailable):
            await get(p, f"http://127.0.0.1:{free_port()}")
        assert p.open_connections == 0


async def test_a_huge_answer_streams_with_backpressure():
    size = 32 * 1024 * 1024
    piece = b"x" * 65536

    async def huge(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for _ in range(size // len(piece)):
            await peer.answer(piece)
        await answer_each(peer)

    async with raw_server(huge) as server, pool() as p:
        answer = await send(p, server.url, "GET", "/", [], None)
        await asyncio.sleep(0.3)  # a consumer far behind: reading pauses, nothing piles up
        assert answer._size <= HIGH_WATER + 256 * 1024  # buffered, waiting for the consumer
        received = 0
        while chunk := await answer.next_chunk():
            received += len(chunk)
            assert len(chunk) <= HIGH_WATER + 256 * 1024
        assert received == size
        answer.release()
        assert await get(p, server.url, "/next") == b"GET /next HTTP/1.1"
        assert server.connections == 1


async def test_streamed_request_bodies_chunked_or_with_their_declared_length():
    seen = []

    async def record(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            seen.append(request)
            await peer.answer(ok(b"%d" % len(request.body)))

    data = bytes(range(256)) * 4096  # 1 MiB

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]

    async with raw_server(record) as server, pool() as p:
        for length in (None, len(data)):
            body = RequestBody(pieces(), limit=2 * len(data), length=length)
            answer = await send(p, server.url, "PUT", "/upload", [], body)
            assert await answer.read() == b"%d" % len(data)
            answer.release()
        assert server.connections == 1
    chunked, declared = seen
    assert chunked.header(b"transfer-encoding") == [b"chunked"] and chunked.body == data
    assert declared.header(b"content-length") == [b"%d" % len(data)] and declared.body == data


async def test_a_body_over_the_limit_or_cut_short_raises_its_own_error():
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    async with raw_server(answer_each) as server, pool() as p:
        with pytest.raises(BodyTooLarge):
            await send(p, server.url, "POST", "/", [], RequestBody(pieces(), 5000, None))
        with pytest.raises(ClientDisconnect):
            await send(p, server.url, "POST", "/", [], RequestBody(pieces(), 10**6, 20_000))
        await asyncio.sleep(0.05)
        assert p.open_connections == 0  # each half-sent request's connection closed


async def test_the_pool_limit_queues_requests_for_at_most_the_connect_timeout():
    release = asyncio.Event()

    async def held(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await release.wait()
            await peer.answer(ok(request.line))

    async with raw_server(held) as server, pool(max_connections=1, connect_timeout=0.3) as p:
        first = asyncio.create_task(get(p, server.url, "/1"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable, match="busy"):
            await get(p, server.url, "/refused")
        assert 0.3 <= time.monotonic() - started < 3
        queued = asyncio.create_task(get(p, server.url, "/2"))
        await asyncio.sleep(0.05)
        release.set()
        assert await first == b"GET /1 HTTP/1.1"
        assert await queued == b"GET /2 HTTP/1.1"
        assert server.connections == 1


async def test_a_full_pool_closes_an_idle_connection_of_another_upstream():
    async with (
        raw_server(answer_each) as one,
        raw_server(answer_each) as other,
        pool(max_connections=1, connect_timeout=0.3) as p,
    ):
        assert await get(p, one.url) and await get(p, other.url)
        assert p.open_connections == 1
        assert await one.peers[0].gone()


async def test_idle_connections_close_after_the_keepalive_and_all_on_close():
    async with raw_server(answer_each) as server:
        async with pool(keepalive=0.2) as p:
            await get(p, server.url)
            assert p.open_connections == 1
            assert await server.peers[0].gone()
            assert p.open_connections == 0
            await get(p, server.url)
        assert await server.peers[1].gone()


async def test_an_answer_received_whole_but_left_unread_leaves_its_connection_reading():
    """A client gone mid-response: the service's answer arrived whole (reading paused on the
    way, past the high-water mark), nobody read it; the next request on the connection must
    still be read."""
    body = b"z" * (HIGH_WATER + 40_000)

    async def big_then_small(peer: Peer) -> None:
        await peer.request()
        await peer.answer(ok(body))
        await answer_each(peer)

    async with raw_server(big_then_small) as server, pool(read_timeout=0.5) as p:
        answer = await send(p, server.url, "GET", "/big", [], None)
        while not answer.complete:
            await asyncio.sleep(0.01)
        answer.release()
        assert await get(p, server.url, "/small") == b"GET /small HTTP/1.1"
        assert server.connections == 1

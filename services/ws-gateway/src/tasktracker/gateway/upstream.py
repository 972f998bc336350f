"""The gateway's HTTP client toward the services: a small HTTP/1.1 keep-alive client of its own
(`upstream_pool`, `upstream_connection`: asyncio protocols and httptools' parser).

Why not a general client, measured: httpx spent 39% of the gateway's CPU checking every pooled
connection with a `select` call per request and 17% in anyio; aiohttp, which replaced it, still
took about half of the gateway's CPU per proxied webhook in `ClientSession._request` and its
request, payload, writer and response objects (py-spy), and turning its timers off changed
nothing. A proxy needs little of a general client, and this one does only that; the gateway's
CPU per proxied webhook fell from 0.45 to 0.30 ms with it (`bench.proxy`, the same session):

* no cookie jar, no redirects followed, no environment proxies, no body decompressed, no header
  added but `Host` (the upstream's, as aiohttp named it) and the body's framing;
* the path and query go out exactly as they came (no re-quoting);
* a body already read goes out with the head in one write; a streamed one follows it, chunked
  or with its declared `Content-Length`, each write waiting while the service does not read;
* timeouts: the connect timeout bounds the TCP connect and the wait for a free connection
  (`UpstreamUnavailable`), the read timeout each wait for the answer and each wait for the
  service to take more of the body (`UpstreamTimeout`);
* a request that finds its reused connection closed by the service before any byte of the
  answer is sent once more on a new connection when its method is safe (GET, HEAD, OPTIONS)
  and its body is not a stream. Never a POST: the webhook's 200 means stored, and the request
  may have reached the service. Nor PUT or DELETE, idempotent in HTTP's terms but not in what
  a second attempt answers (a 404 for a delete that worked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect

from tasktracker.gateway.upstream_connection import RawHeaders, UpstreamAnswer, UpstreamConnection
from tasktracker.gateway.upstream_errors import (
    StaleConnection,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tasktracker.gateway.upstream_pool import Origin, UpstreamPool

__all__ = [
    "BadHeaderValue",
    "BodyTooLarge",
    "RawHeaders",
    "RequestBody",
    "UpstreamAnswer",
    "UpstreamFailed",
    "UpstreamPool",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "send",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EMPTY_BODY_DECLARED = frozenset({"POST", "PUT", "PATCH"})  # `Content-Length: 0`, as aiohttp did


class BodyTooLarge(Exception):
    pass


class BadHeaderValue(Exception):
    """A header value that is not UTF-8 text, or that holds a line break or a NUL byte."""


class RequestBody:
    """The client's body streamed upstream, cut off past `limit`; `length` is the one it
    declared (`Content-Length`), None for a chunked body."""

    def __init__(self, stream: AsyncIterator[bytes], limit: int, length: int | None) -> None:
        self.stream = stream
        self.limit = limit
        self.length = length

    async def chunks(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self.stream:
            total += len(chunk)
            if total > self.limit:
                raise BodyTooLarge
            if chunk:
                yield chunk
        if self.length is not None and total != self.length:
            raise ClientDisconnect  # the client stopped short of what it declared


async def send(
    pool: UpstreamPool,
    upstream: str,
    method: str,
    target: str,
    headers: RawHeaders,
    body: bytes | RequestBody | None,
) -> UpstreamAnswer:
    """Sends `method target` (path and query, as received) to the upstream base URL
    `upstream`; the answer's body is not read yet (the caller streams it, then releases it).
    Raises one of this module's errors, or the body's own (`BodyTooLarge`, `ClientDisconnect`).
    `headers` must not frame the body: this client writes `Content-Length` or
    `Transfer-Encoding` itself."""
    origin = pool.origin(upstream)
    streamed = body if isinstance(body, RequestBody) else None
    head = request_head(origin, method, target, headers, body)
    data = head + body if isinstance(body, bytes) else head
    retry = method in SAFE_METHODS and streamed is None
    while True:
        connection = await pool.acquire(origin)
        try:
            connection.send(data, head_request=method == "HEAD", whole=streamed is None)
            if streamed is not None:
                connection.body_writer = _write_body(connection, streamed)
            return await connection.answer()
        except StaleConnection:
            connection.release()
            if not retry:
                raise
            retry = False
        except BaseException:
            connection.release()  # not reusable: closed
            raise


def request_head(
    origin: Origin,
    method: str,
    target: str,
    headers: RawHeaders,
    body: bytes | RequestBody | None,
) -> bytes:
    start = f"{method} {origin.base_path}{target} HTTP/1.1\r\nhost: {origin.host_header}"
    if isinstance(body, RequestBody):
        if body.length is None:
            framing = b"transfer-encoding: chunked"
        else:
            framing = b"content-length: %d" % body.length
    elif body:
        framing = b"content-length: %d" % len(body)
    elif method in _EMPTY_BODY_DECLARED:
        framing = b"content-length: 0"
    else:
        framing = None
    lines = [start.encode(), *map(b": ".join, headers)]
    if framing is not None:
        lines.append(framing)
    lines.append(b"\r\n")
    head = b"\r\n".join(lines)
    # Each line break is one this function wrote, or a value would smuggle a header in.
    breaks = len(lines) + 1
    if head.count(b"\n") != breaks or head.count(b"\r") != breaks or b"\0" in head:
        raise BadHeaderValue("a line break or NUL in a header value")
    if not head.isascii():
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadHeaderValue("a header value that is not UTF-8") from exc
    return head


def _write_body(connection: UpstreamConnection, body: RequestBody) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(_stream_body(connection, body))


async def _stream_body(connection: UpstreamConnection, body: RequestBody) -> None:
    """Writes the body after the head; its failure ends the exchange with its own error."""
    chunked = body.length is None
    try:
        async for chunk in body.chunks():
            connection.write([b"%x\r\n" % len(chunk), chunk, b"\r\n"] if chunked else [chunk])
            await connection.drain()
        if chunked:
            connection.write([b"0\r\n\r\n"])
        connection.body_written()
    except Exception as exc:  # the client's (too large, gone) or the connection's
        connection.fail(exc)

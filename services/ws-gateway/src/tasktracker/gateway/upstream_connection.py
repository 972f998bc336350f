"""One keep-alive HTTP/1.1 connection to a service: an asyncio protocol that writes a request
and parses the answer with httptools (llhttp, the parser uvicorn serves with).

What it keeps exact, and why each matters to a proxy:

* the answer's headers as the service sent them: bytes, order and duplicates kept;
* the body streamed with backpressure: reading pauses while more than `HIGH_WATER` bytes wait
  for the consumer (a slow client), and resumes when it has taken them;
* bodies framed by `Content-Length`, chunked, or the end of the connection; 1xx answers
  (`100 Continue`) are skipped; 204, 304 and answers to HEAD carry no body;
* a connection goes back to the pool only when its request was written whole, its answer was
  received whole and the service did not say `Connection: close` (`reusable`). An answer to
  HEAD closes it: httptools cannot be told that a HEAD answer's `Content-Length` announces no
  body, so the parser would wait for one.

No timer per request: a wait records when it began (`answer_wait_since`, `drain_wait_since`)
and the pool's periodic sweep calls `time_out` on waits older than the read timeout.

Two ways to follow an answer: a coroutine awaits it (`answer`, then `UpstreamAnswer.read` or
`next_chunk`), or a `listener` given to `send` is called after each part of it arrives and
when the exchange fails (`error`): the gateway's in-place path answers small requests from
that call, with no task and no future per request (`http_front`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from tasktracker.gateway.upstream_errors import (
    StaleConnection,
    UpstreamFailed,
    UpstreamTimeout,
)

if TYPE_CHECKING:
    from tasktracker.gateway.upstream_pool import Origin

RawHeaders = list[tuple[bytes, bytes]]

HIGH_WATER = 256 * 1024  # bytes of an answer's body buffered before reading pauses


class UpstreamAnswer:
    """The status and headers of an answer, and its body as it arrives."""

    __slots__ = ("_chunks", "_connection", "_size", "complete", "raw_headers", "status")

    def __init__(self, connection: UpstreamConnection, status: int, headers: RawHeaders) -> None:
        self._connection = connection
        self.status = status
        self.raw_headers = headers
        self.complete = False  # every byte of the body received
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def content_length(self) -> int | None:
        for name, value in self.raw_headers:
            if len(name) == 14 and name.lower() == b"content-length":
                return int(value) if value.isdigit() else None
        return None

    def received(self) -> bytes:
        """The body received so far, taken (all of it once `complete`)."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        return data

    async def read(self) -> bytes:
        """The whole body (for small ones: nothing pauses while it accumulates)."""
        while not self.complete:
            self._connection.resume_reading()
            await self._connection.wait_for_answer()
        return self.received()

    async def next_chunk(self) -> bytes:
        """What arrived of the body since the last call, waiting for some; b"" at its end."""
        while not self._chunks:
            if self.complete:
                return b""
            await self._connection.wait_for_answer()
        data = self.received()
        self._connection.resume_reading()
        return data

    def release(self) -> None:
        """Back to the pool if reusable, closed otherwise; call exactly once."""
        self._connection.release()


class UpstreamConnection(asyncio.Protocol):
    """A connection of `origin`'s pool; `on_release` and `on_lost` are the pool's."""

    def __init__(
        self,
        origin: Origin,
        on_release: Callable[[UpstreamConnection], None],
        on_lost: Callable[[UpstreamConnection], None],
    ) -> None:
        self.origin = origin
        self._on_release = on_release
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False  # the service ended the connection (or it was lost)
        self.reused = False  # it served a request before the current one
        self.idle_since: float | None = None  # set by the pool while the connection is idle
        self.answer_wait_since: float | None = None
        self.drain_wait_since: float | None = None
        self.request_written = True
        self.body_writer: asyncio.Future[None] | None = None
        self._answer: UpstreamAnswer | None = None
        self._headers: RawHeaders = []
        self._informational = False
        self._head_request = False
        self._in_flight = False  # a request sent, the connection not released yet
        self._received = False  # a byte of the current answer arrived
        self._keep_alive = True
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._listener: Callable[[], None] | None = None
        self._heard = False  # a part of the answer arrived for the listener

    @property
    def error(self) -> BaseException | None:
        """What broke the exchange in flight, if anything did."""
        return self._error

    @property
    def answered(self) -> UpstreamAnswer | None:
        """The answer's status and headers, once they arrived (the listener's view)."""
        return self._answer

    # -- the exchange, as the client drives it

    def send(
        self,
        data: bytes,
        *,
        head_request: bool,
        whole: bool,
        listener: Callable[[], None] | None = None,
    ) -> None:
        """Write a request (`whole`: with its body; else the body follows, see `write`).
        With a `listener`, the answer is followed by calls to it (see `listen`)."""
        assert self.transport is not None
        self._answer = None
        self._headers = []
        self._received = False
        self._error = None
        self._keep_alive = True
        self._head_request = head_request
        self._in_flight = True
        self.request_written = whole
        self.resume_reading()  # paused if the last answer arrived whole but was left unread
        self.transport.write(data)
        if listener is not None:
            self.listen(listener)

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Calls `listener` once the parser is done with what arrived, each time part of the
        answer did, and when the exchange fails; None stops that (a coroutine takes over).
        The wait counts from now for the read timeout."""
        self._listener = listener
        self._heard = False
        self.answer_wait_since = self._loop.time() if listener is not None else None

    def write(self, data: list[bytes]) -> None:
        if self._error is not None:
            raise self._error
        if self.closed or self.transport is None:
            raise UpstreamFailed("the connection closed while the request body was sent")
        self.transport.writelines(data)

    def body_written(self) -> None:
        self.request_written = True
        if self.answer_wait_since is not None:  # the wait for the answer starts now
            self.answer_wait_since = self._loop.time()

    async def drain(self) -> None:
        if not self._writing_paused:
            return
        self._drain_waiter = waiter = self._loop.create_future()
        self.drain_wait_since = self._loop.time()
        try:
            await waiter
        finally:
            self._drain_waiter = None
            self.drain_wait_since = None

    async def answer(self) -> UpstreamAnswer:
        """The answer's status and headers, once they arrived."""
        while self._answer is None:
            await self.wait_for_answer()
        return self._answer

    async def wait_for_answer(self) -> None:
        """Until the next part of the answer arrives; raises what broke the exchange."""
        if self._error is not None:
            raise self._error
        self._waiter = waiter = self._loop.create_future()
        self.answer_wait_since = self._loop.time()
        try:
            await waiter
        finally:
            self._waiter = None
            self.answer_wait_since = None

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    @property
    def reusable(self) -> bool:
        answer = self._answer
        return (
            self._keep_alive
            and self._error is None
            and not self.closed
            and self.request_written
            and answer is not None
            and answer.complete
        )

    def release(self) -> None:
        self._in_flight = False
        self._listener = None
        self.answer_wait_since = None
        self._on_release(self)

    def close(self) -> None:
        """Closes the connection (the pool forgets it when it is lost)."""
        writer = self.body_writer
        if writer is not None and not writer.done():
            writer.cancel()
        self.body_writer = None
        if self.transport is not None and not self.closed:
            self.transport.close()

    def fail(self, error: BaseException) -> None:
        """Ends the exchange with `error` (for whoever waits on the answer) and the connection."""
        self._keep_alive = False
        answer = self._answer
        if self._error is None and not (answer is not None and answer.complete):
            self._error = error
            for waiter in (self._waiter, self._drain_waiter):
                if waiter is not None and not waiter.done():
                    waiter.set_exception(error)
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self._tell_listener()

    def time_out(self) -> None:
        self.fail(UpstreamTimeout("no answer within the read timeout"))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._heard = True

    def _tell_listener(self) -> None:
        """Outside the parser's callbacks only: the listener may release the connection."""
        listener = self._listener
        if listener is not None and (self._heard or self._error is not None):
            self._heard = False
            self.answer_wait_since = self._loop.time()  # the next part's wait starts now
            listener()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike (TCP_NODELAY is set)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_flight:  # bytes nobody asked for: the connection is not HTTP any more
            self.fail(UpstreamFailed("the upstream sent data on an idle connection"))
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(UpstreamFailed("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self.fail(UpstreamFailed(f"the upstream's answer is not HTTP: {exc}"))
        else:
            self._tell_listener()

    def eof_received(self) -> bool:
        self.closed = True  # from now on, not to be handed out: the transport closes
        self._ended(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        self.closed = True
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(UpstreamFailed("the connection closed while writing"))
        self._on_lost(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ended(self, exc: Exception | None) -> None:
        """The service closed the connection: the end of a body read until close, or a failure
        of the exchange in flight (an idle connection is only forgotten by the pool)."""
        self._keep_alive = False
        answer = self._answer
        if not self._in_flight or (answer is not None and answer.complete):
            return
        if answer is not None and _delimited_by_close(answer.raw_headers):
            answer.complete = True
            self._wake()
            self._tell_listener()
        elif self.reused and not self._received:
            self.fail(StaleConnection("the upstream closed the reused connection"))
        else:
            self.fail(UpstreamFailed(f"the upstream closed the connection: {exc!r}"))

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        if self._answer is not None:  # a second answer to one request
            self._keep_alive = False
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._informational = True
            return
        if self._answer is not None:
            return
        answer = self._answer = UpstreamAnswer(self, status, self._headers)
        if self._head_request:
            answer.complete = True
            self._keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        answer = self._answer
        if answer is None or answer.complete:
            return
        answer._chunks.append(body)
        answer._size += len(body)
        if answer._size > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        answer = self._answer
        if answer is None or answer.complete:
            return
        answer.complete = True
        if not self._parser.should_keep_alive():
            self._keep_alive = False
        self._wake()


def _delimited_by_close(headers: RawHeaders) -> bool:
    """An answer without `Content-Length` and not chunked: its body ends with the connection."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            return False
        if lowered == b"transfer-encoding" and b"chunked" in value.lower():
            return False
    return True

"""The gateway's HTTP/1.1 server: uvicorn's httptools protocol, with the proxy's common case
answered in place.

A proxied request with a small declared body (`Content-Length` up to `READ_WHOLE_BYTES`, or
none), on a connection with nothing else in flight, skips the ASGI cycle: its body is kept as
the parser hands it over, `Proxy.admit` decides it, it goes out on an idle upstream connection,
and that connection's listener writes the answer, head and body in one write, as soon as it
has arrived whole. There is no task, future or ASGI message for such a request, and no extra
turn of the event loop on the way in or out.

Why: through uvicorn's cycle each proxied webhook cost a task, ASGI messages, two more turns
of the event loop and three socket writes where two are enough. Measured with `bench.proxy`
(wrk, 16 connections): the gateway's CPU per webhook fell from 70 to 46 µs, and in front of a
canned upstream from 51 to 33 µs (README → Measured).

Everything else takes uvicorn's path unchanged, through the same proxy (`asgi_routes.proxy_first`):

* WebSocket upgrades, health, metrics and docs;
* HEAD, `Expect: 100-continue`, and chunked or large bodies;
* a request pipelined behind one in flight;
* `X-Forwarded-*` while uvicorn's proxy headers are on: its middleware reads them;
* every request while tracing is on, because the span belongs to the ASGI path.

An exchange that cannot finish in place continues as a task through uvicorn's
`RequestResponseCycle`, with the same proxy code. That happens when no upstream connection is
idle, when the answer is too large or is streamed, and when a stale connection must be retried.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from tasktracker.contracts.errors import ErrorCode
from tasktracker.gateway.proxy import (
    METHODS,
    READ_WHOLE_BYTES,
    ROUTE_KEY,
    Admitted,
    Proxy,
    UpstreamResponse,
    error_answer,
    is_proxied,
)
from tasktracker.gateway.upstream import SAFE_METHODS, BadHeaderValue, request_head
from tasktracker.gateway.upstream_connection import RawHeaders, UpstreamConnection
from tasktracker.gateway.upstream_errors import StaleConnection
from tasktracker.servicekit import tracing
from tasktracker.servicekit.metrics import UNMATCHED_ROUTE, count_request

log = logging.getLogger(__name__)

IN_PLACE_METHODS = METHODS - {"HEAD"}  # a HEAD answer's framing is uvicorn's to get right
_FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto"})
_NO_BODY = frozenset({204, 304})


class Exchange:
    """A request answered in place; uvicorn's protocol knows it as its `cycle`."""

    __slots__ = (
        "admitted",
        "body",
        "connection",
        "disconnected",
        "inner",
        "keep_alive",
        "response_complete",
        "scope",
        "started",
    )

    def __init__(self, scope: dict[str, Any], keep_alive: bool) -> None:
        self.scope = scope
        self.keep_alive = keep_alive
        self.started = time.perf_counter()
        self.body = b""
        self.admitted: Admitted | None = None
        self.connection: UpstreamConnection | None = None  # while its answer is awaited
        self.response_complete = False
        self.disconnected = False
        self.inner: RequestResponseCycle | None = None  # when it continues as a task


class GatewayHttpProtocol(HttpToolsProtocol):
    """Serve with `uvicorn.Config(http=functools.partial(GatewayHttpProtocol, proxy=...))`;
    `proxy` gives the running gateway's `Proxy`, None before its startup."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        proxy: Callable[[], Proxy | None],
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._running_proxy = proxy
        self._proxy: Proxy | None = None  # the running proxy, once there is one
        self._exchange: Exchange | None = None  # the one in flight
        self._forwarded_read = bool(config.proxy_headers)

    # -- the parser's callbacks: in place when the request qualifies, else uvicorn's

    def on_headers_complete(self) -> None:
        self._unset_keepalive_if_required()  # the last answer may have been written in place
        exchange = self._in_place()
        if exchange is None:
            super().on_headers_complete()
        else:
            self.cycle = self._exchange = exchange  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        exchange = self.cycle
        if type(exchange) is Exchange:
            exchange.body += body  # at most READ_WHOLE_BYTES, as declared
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.cycle
        if type(exchange) is Exchange:
            self._begin(exchange)
        else:
            super().on_message_complete()

    def _in_place(self) -> Exchange | None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return None  # pipelined behind a request in flight: uvicorn queues it
        parser = self.parser
        if (
            self.expect_100_continue
            or self.limit_concurrency is not None
            or parser.should_upgrade()
            or tracing.enabled()
        ):
            return None
        method = parser.get_method().decode("ascii")
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")  # not ASCII: a 400, as uvicorn's own parsing answers
        if method not in IN_PLACE_METHODS or "%" in path or not is_proxied(path):
            return None
        length = None
        for name, value in self.headers:
            if name == b"content-length":
                if length is not None or not value.isdigit() or int(value) > READ_WHOLE_BYTES:
                    return None
                length = value
            elif name == b"transfer-encoding" or (self._forwarded_read and name in _FORWARDED):
                return None
        if self._proxy is None:
            self._proxy = self._running_proxy()
            if self._proxy is None:
                return None  # not started yet
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        http_version = parser.get_http_version()
        scope["method"] = method
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = url.query or b""
        return Exchange(scope, http_version != "1.0" and parser.should_keep_alive())

    # -- the exchange

    def _begin(self, exchange: Exchange) -> None:
        proxy = self._proxy
        assert proxy is not None
        try:
            admitted = proxy.admit(exchange.scope)
            if not isinstance(admitted, Admitted):
                self._answer_with(exchange, admitted)
                return
            exchange.admitted = admitted
            body = exchange.body or None
            pool = proxy.pool
            origin = pool.origin(admitted.upstream)
            try:
                head = request_head(
                    origin, admitted.method, admitted.target, admitted.headers, body
                )
            except BadHeaderValue as exc:
                self._answer_with(exchange, proxy.failure(exc, admitted))
                return
            connection = pool.take_idle(origin)
            if connection is None:  # connecting (or waiting for room) takes a task
                self._continue(exchange, proxy.forward(admitted, body))
                return
            exchange.connection = connection
            data = head + body if body else head
            connection.send(data, head_request=False, whole=True, listener=self._heard_upstream)
        except Exception:
            self._crashed(exchange)

    def _heard_upstream(self) -> None:
        """The upstream connection's listener: part of the answer arrived, or it failed."""
        exchange = self._exchange
        assert exchange is not None and exchange.admitted is not None
        proxy = self._proxy
        assert proxy is not None
        connection, admitted = exchange.connection, exchange.admitted
        assert connection is not None
        try:
            error = connection.error
            if error is not None:
                exchange.connection = None
                connection.release()  # closed: it failed
                if isinstance(error, StaleConnection) and admitted.method in SAFE_METHODS:
                    self._continue(exchange, proxy.forward(admitted, exchange.body or None))
                else:
                    self._answer_with(exchange, proxy.failure(error, admitted))
                return
            answer = connection.answered
            if answer is None:
                return  # the head is still on its way
            if not answer.complete:
                length = answer.content_length
                if length is not None and length <= READ_WHOLE_BYTES:
                    return  # the rest of a small body is on its way
                exchange.connection = None
                connection.listen(None)
                headers = proxy.answer_headers(answer, admitted)
                self._continue(exchange, UpstreamResponse(answer, headers))
                return
            exchange.connection = None
            body = answer.received()
            answer.release()
            self._answer(exchange, answer.status, proxy.answer_headers(answer, admitted), body)
        except Exception:
            self._crashed(exchange)

    def _answer_with(self, exchange: Exchange, response: Response) -> None:
        self._answer(exchange, response.status_code, response.raw_headers, response.body)

    def _answer(self, exchange: Exchange, status: int, headers: RawHeaders, body: bytes) -> None:
        """Writes the whole answer at once, then lets the connection go on."""
        keep_alive = exchange.keep_alive
        if not exchange.disconnected:
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content += (name, b": ", value, b"\r\n")
            framed = status in _NO_BODY or status < 200
            for name, value in headers:
                if name == b"content-length":
                    framed = True
                content += (name, b": ", value, b"\r\n")
            if not framed:
                content.append(b"content-length: %d\r\n" % len(body))
            if not keep_alive:
                content.append(b"connection: close\r\n")
            content += (b"\r\n", body)
            self.transport.write(b"".join(content))
            if self.access_log:
                self._log_access(exchange.scope, status)
        self._done(exchange)
        _count(exchange, status)
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _done(self, exchange: Exchange) -> None:
        exchange.response_complete = True
        if self._exchange is exchange:
            self._exchange = None

    def _crashed(self, exchange: Exchange) -> None:
        scope = exchange.scope
        log.exception("proxying %s %s failed", scope["method"], scope["path"])
        connection, exchange.connection = exchange.connection, None
        if connection is not None:
            connection.release()  # not answered whole: closed
        admitted = exchange.admitted
        proxy = self._proxy
        assert proxy is not None
        request_id = admitted.request_id if admitted is not None else proxy.request_ids()
        response = error_answer(500, ErrorCode.internal, "internal error", request_id)
        self._answer_with(exchange, response)

    # -- the rare ways on: a task through uvicorn's own request cycle

    def _continue(self, exchange: Exchange, pending: Awaitable[Response] | Response) -> None:
        cycle = RequestResponseCycle(
            scope=exchange.scope,  # type: ignore[arg-type]
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=exchange.keep_alive,
            on_response=functools.partial(self._continued, exchange),
        )
        cycle.more_body = False
        cycle.disconnected = exchange.disconnected
        exchange.inner = cycle
        task = self.loop.create_task(self._respond(exchange, cycle, pending))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _respond(
        self,
        exchange: Exchange,
        cycle: RequestResponseCycle,
        pending: Awaitable[Response] | Response,
    ) -> None:
        status = 500
        try:
            response = pending if isinstance(pending, Response) else await pending
            status = response.status_code
            await response(exchange.scope, cycle.receive, cycle.send)  # type: ignore[arg-type]
        except Exception:
            scope = exchange.scope
            log.exception("proxying %s %s failed", scope["method"], scope["path"])
            if not cycle.response_started:
                await cycle.send_500_response()
            else:
                self.transport.close()
        finally:
            _count(exchange, status)
            self._done(exchange)  # already, unless the client left first

    def _continued(self, exchange: Exchange) -> None:
        """The task's answer is complete (uvicorn's cycle calls this after its last write)."""
        self._done(exchange)
        self.on_response_complete()

    # -- connection events uvicorn's protocol handles through its `cycle`

    def connection_lost(self, exc: Exception | None) -> None:
        exchange = self._exchange
        if exchange is not None:
            exchange.disconnected = True
            if exchange.inner is not None:
                exchange.inner.disconnected = True
                exchange.inner.message_event.set()
        if type(self.cycle) is Exchange:  # uvicorn's own would wake the cycle's reader
            self.cycle = None  # type: ignore[assignment]
        super().connection_lost(exc)

    def shutdown(self) -> None:
        exchange = self._exchange
        if exchange is not None and exchange.inner is not None:
            exchange.inner.keep_alive = False
        super().shutdown()

    def _log_access(self, scope: dict[str, Any], status: int) -> None:
        self.access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(scope),  # type: ignore[arg-type]
            scope["method"],
            get_path_with_query_string(scope),  # type: ignore[arg-type]
            scope["http_version"],
            status,
        )


def _count(exchange: Exchange, status: int) -> None:
    scope = exchange.scope
    route = scope.get(ROUTE_KEY, UNMATCHED_ROUTE)
    count_request("gateway", route, scope["method"], status, exchange.started)

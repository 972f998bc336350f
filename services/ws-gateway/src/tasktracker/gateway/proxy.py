"""REST routing: check the caller, then stream the request to the owning service and back."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tasktracker.contracts.errors import ErrorCode
from tasktracker.gateway.auth import AuthError, TokenVerifier, bearer_token
from tasktracker.gateway.forwarded_headers import (
    TRACE_HEADERS,
    client_response_headers,
    upstream_request_headers,
    with_trace_context,
)
from tasktracker.gateway.policy import authorize
from tasktracker.gateway.routing import (
    BadPath,
    Route,
    RouteTable,
    is_import_upload,
    is_public,
    split_path,
)
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.gateway.upstream import (
    BadHeaderValue,
    BodyTooLarge,
    RawHeaders,
    RequestBody,
    UpstreamAnswer,
    UpstreamFailed,
    UpstreamPool,
    UpstreamTimeout,
    UpstreamUnavailable,
    send,
)
from tasktracker.servicekit import tracing
from tasktracker.servicekit.actor import ActorTokenSigner
from tasktracker.servicekit.errors import error_response

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
# A declared body up to this size is read whole and sent in one write with the headers;
# larger and chunked ones stream through.
READ_WHOLE_BYTES = 64 * 1024


class UpstreamResponse(Response):
    """Streams an upstream response through unchanged and always releases its connection."""

    def __init__(self, upstream: UpstreamAnswer, headers: RawHeaders) -> None:
        self.upstream = upstream
        self.status_code = upstream.status
        self.background = None
        self.raw_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            length = self.upstream.content_length
            if length is not None and length <= READ_WHOLE_BYTES:
                # Small and declared: one body message, not a chunk loop and an empty end.
                body = await self.upstream.read()
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            while chunk := await self.upstream.next_chunk():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-response; nobody is left to tell
        finally:
            # Back to the pool when read to the end; closed otherwise.
            self.upstream.release()


class Proxy:
    def __init__(
        self,
        settings: GatewaySettings,
        verifier: TokenVerifier,
        pool: UpstreamPool,
    ) -> None:
        self.routes = RouteTable(settings.routes)
        self.public = tuple(split_path(prefix) for prefix in settings.public_paths)
        self.verifier = verifier
        self.signer = ActorTokenSigner(settings.actor_key())
        self.pool = pool
        self.body_limit = settings.body_limit_bytes
        self.import_body_limit = settings.import_body_limit_bytes
        self.request_ids = request_ids()
        # Paths repeat (the webhook's always): split, route and classify each once. Bounded, as
        # the route table's own cache; a malformed path raises and is not remembered.
        self.path_facts = functools.lru_cache(maxsize=4096)(self._path_facts)

    def _path_facts(self, path: str) -> tuple[tuple[str, ...], Route | None, bool]:
        """The path's segments, its route and whether it passes without a token."""
        segments = split_path(path)
        return segments, self.routes.route_of(segments), is_public(segments, self.public)

    def handle(self, scope: Scope, receive: Receive) -> Awaitable[Response]:
        # Untraced, the proxy's own coroutine: no frame of this one to pass through each time
        # the request resumes.
        if not tracing.enabled():
            return self._handle(scope, receive)
        return self._traced(scope, receive)

    async def _traced(self, scope: Scope, receive: Receive) -> Response:
        incoming: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in _TRACE_HEADER_NAMES:  # the first of each, as starlette's Headers.get
                incoming.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        method = scope["method"]
        with tracing.span(
            f"{method} gateway",
            parent=incoming or None,
            kind=tracing.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            response = await self._handle(scope, receive)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        admitted = self.admit(scope)
        if not isinstance(admitted, Admitted):
            return admitted
        body: bytes | RequestBody | None = None
        declared = admitted.declared
        try:
            if declared is not None and declared <= READ_WHOLE_BYTES:
                body = await _read_body(receive) if declared else None
            elif declared is not None or admitted.chunked:
                body = RequestBody(_body_chunks(receive), admitted.limit, declared)
        except ClientDisconnect as exc:
            return self.failure(exc, admitted)
        return await self.forward(admitted, body)

    def admit(self, scope: Scope) -> Admitted | Response:
        """What to send where for this request, or the answer that refuses it. Routes, checks
        the token and the role, signs the caller and builds the upstream's headers; records
        the route's template in the scope (the metrics label: bounded, never the path)."""
        request_id = self.request_ids()
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        try:
            path = raw_path.decode("ascii")
            query = scope.get("query_string", b"").decode("ascii")
            segments, route, public = self.path_facts(path)
        except (BadPath, UnicodeDecodeError):
            return error_answer(400, ErrorCode.bad_request, "malformed path", request_id)
        if route is None:
            return error_answer(404, ErrorCode.not_found, "no such endpoint", request_id)
        # The three headers the proxy reads, in one pass over the raw list: starlette's
        # `request.headers` builds a mapping of them all for each lookup's sake.
        facts = _RequestFacts(scope["headers"])
        method: str = scope["method"]
        scope[ROUTE_KEY] = route.template

        actor_token = None
        if not public:
            try:
                claims = self.verifier.verify(bearer_token(facts.authorization))
            except AuthError as exc:
                return _unauthorized(str(exc), request_id)
            refusal = authorize(method, segments, claims)
            if refusal is not None:
                return error_answer(refusal.status, refusal.code, refusal.message, request_id)
            actor_token = self.signer.sign(
                sub=claims.sub,
                admin=claims.admin,
                projects=claims.projects,
                method=method,
                path=path,
                request_id=request_id,
            )

        limit = self.body_limit
        if is_import_upload(method, segments):
            limit = self.import_body_limit
        declared = facts.content_length
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return error_answer(
                413, ErrorCode.payload_too_large, f"body over {limit} bytes", request_id
            )
        client = scope.get("client")
        headers = upstream_request_headers(
            scope["headers"],
            actor_token=actor_token,
            request_id=request_id,
            client_host=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
        )
        if tracing.enabled():  # the upstream continues the gateway's span, not the client's
            headers = with_trace_context(headers)
        return Admitted(
            upstream=route.upstream,
            method=method,
            target=path + "?" + query if query else path,
            headers=headers,
            request_id=request_id,
            limit=limit,
            declared=int(declared) if declared is not None else None,
            chunked=facts.chunked,
        )

    async def forward(self, admitted: Admitted, body: bytes | RequestBody | None) -> Response:
        """Sends an admitted request upstream; the answer streams back (`UpstreamResponse`)."""
        a = admitted
        try:
            answer = await send(self.pool, a.upstream, a.method, a.target, a.headers, body)
        except FORWARD_ERRORS as exc:
            return self.failure(exc, admitted)
        return UpstreamResponse(answer, self.answer_headers(answer, admitted))

    def answer_headers(self, answer: UpstreamAnswer, admitted: Admitted) -> RawHeaders:
        return client_response_headers(
            answer.raw_headers, admitted.request_id, self.routes.upstreams
        )

    def failure(self, exc: Exception, admitted: Admitted) -> Response:
        """The answer to a request that could not be forwarded, or whose answer broke."""
        request_id = admitted.request_id
        if isinstance(exc, ClientDisconnect):
            return Response(status_code=499)  # the client left while sending its body
        if isinstance(exc, BodyTooLarge):
            message = f"body over {admitted.limit} bytes"
            return error_answer(413, ErrorCode.payload_too_large, message, request_id)
        if isinstance(exc, BadHeaderValue):
            message = "a header value is not UTF-8 text"
            return error_answer(400, ErrorCode.bad_request, message, request_id)
        status, code, what = _UPSTREAM_FAILURES.get(type(exc), _UPSTREAM_FAILED)
        log.warning("upstream %s %s: %s", admitted.upstream, what, exc)
        return error_answer(status, code, f"upstream service {what}", request_id)


_UPSTREAM_FAILED = (502, ErrorCode.unavailable, "failed")
_UPSTREAM_FAILURES: dict[type[Exception], tuple[int, ErrorCode, str]] = {
    UpstreamUnavailable: (503, ErrorCode.unavailable, "unavailable"),
    UpstreamTimeout: (504, ErrorCode.upstream_timeout, "timed out"),
}

# What forwarding raises that has an answer of its own (`Proxy.failure`).
FORWARD_ERRORS = (
    ClientDisconnect,
    BodyTooLarge,
    BadHeaderValue,
    UpstreamUnavailable,
    UpstreamTimeout,
    UpstreamFailed,
)


@dataclass(slots=True)
class Admitted:
    """A request the proxy forwards: where, and with which head (`Proxy.admit`)."""

    upstream: str  # the service's base URL
    method: str
    target: str  # path and query, as received
    headers: RawHeaders  # to send upstream (not framing the body)
    request_id: str
    limit: int  # bytes of body allowed
    declared: int | None  # the body's `Content-Length`
    chunked: bool


def request_ids() -> Callable[[], str]:
    """32 hex digits per call, unique: a random half drawn once, then a counter. Random ids
    cost a `getrandom` system call each, 5 % of the gateway's CPU per proxied webhook
    (py-spy --native); an id correlates log lines and binds the actor token to one request,
    and neither needs it unpredictable (the token is signed)."""
    prefix = os.urandom(8).hex()
    counter = itertools.count(int.from_bytes(os.urandom(4)))
    return lambda: f"{prefix}{next(counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_TRACE_HEADER_NAMES = frozenset(name.encode() for name in TRACE_HEADERS)


async def _read_body(receive: Receive) -> bytes:
    """The whole request body, as starlette's `Request.body` reads it, without the Request."""
    return b"".join([chunk async for chunk in _body_chunks(receive)])


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives, as starlette's `Request.stream`, without the Request."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


class _RequestFacts:
    """`Authorization`, `Content-Length` and whether `Transfer-Encoding` is present."""

    __slots__ = ("authorization", "chunked", "content_length")

    def __init__(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.authorization: dict[str, str] = {}
        self.content_length: str | None = None
        self.chunked = False
        for name, value in headers:
            if name == b"content-length":
                if self.content_length is None:  # the first, as starlette's Headers.get
                    self.content_length = value.decode("latin-1")
            elif name == b"authorization":
                if not self.authorization:
                    self.authorization = {"authorization": value.decode("latin-1")}
            elif name == b"transfer-encoding":
                self.chunked = True


def _unauthorized(message: str, request_id: str) -> Response:
    response = error_answer(401, ErrorCode.unauthorized, message, request_id)
    response.headers["www-authenticate"] = "Bearer"
    return response


def admin_refusal(verifier: TokenVerifier, request: Request) -> Response | None:
    """None if the request carries a valid token of a global admin, else the error answer."""
    request_id = uuid.uuid4().hex
    try:
        claims = verifier.verify(bearer_token(request.headers))
    except AuthError as exc:
        return _unauthorized(str(exc), request_id)
    if not claims.admin:
        message = "this endpoint needs the global admin flag"
        return error_answer(403, ErrorCode.forbidden, message, request_id)
    return None


def error_answer(status: int, code: ErrorCode, message: str, request_id: str) -> Response:
    response = error_response(status, code, message)
    response.headers["x-request-id"] = request_id
    return response


PREFIXES = ("/api", "/webhook")


def is_proxied(path: str) -> bool:
    """Whether the path is one the proxy serves: `/api`, `/webhook` or under either."""
    for prefix in PREFIXES:
        if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
            return True
    return False


ROUTE_KEY = "tt.route"

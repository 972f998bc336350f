"""Which headers cross the proxy, each way: hop-by-hop ones and credentials stay behind, the
gateway adds the caller's identity, its request id and the `X-Forwarded-*` facts, and an
upstream's own address in a `Location` becomes the gateway path it stands for. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from tasktracker.gateway.routing import gateway_location
from tasktracker.gateway.upstream import RawHeaders
from tasktracker.servicekit import tracing

# Header names as ASGI servers give them: lower-case bytes (an upstream's are lowered here).
# Values stay bytes from the client to the upstream and back: HTTP headers are bytes, and a
# browser's UTF-8 cookie is no reason to fail a request.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway, never taken from the client; the upstream client frames the body itself
# (`Content-Length` or chunked, whichever the body it sends needs).
_REQUEST_DROPPED = frozenset(
    {
        b"content-length",
        b"host",
        b"authorization",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"forwarded",
    }
)
TRACE_HEADERS = ("traceparent", "tracestate")  # W3C trace context
_RESPONSE_DROPPED = frozenset({b"server", b"date", b"x-request-id"})  # the gateway sets its own


_REQUEST_STOP = HOP_BY_HOP | _REQUEST_DROPPED
_RESPONSE_STOP = HOP_BY_HOP | _RESPONSE_DROPPED


def _connection_listed(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",")}


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    actor_token: str | None,
    request_id: str,
    client_host: str | None,
    scheme: str,
) -> RawHeaders:
    """Client headers minus hop-by-hop, credentials and every `X-Actor*`, plus the caller's
    identity as the gateway established it (`X-Actor-Token`, signed). Names are lower-case."""
    # One pass: a proxied request's headers are few, and most are kept.
    kept: RawHeaders = []
    host = None
    listed: set[bytes] = set()
    for name, value in headers:
        name = name.lower()
        if name in _REQUEST_STOP:
            if name == b"host":
                if host is None:
                    host = value
            elif name == b"connection":
                listed |= _connection_listed(value)
        elif not name.startswith(b"x-actor"):
            kept.append((name, value))
    if listed:
        kept = [(name, value) for name, value in kept if name not in listed]
    kept.append((b"x-request-id", request_id.encode()))
    if actor_token is not None:
        kept.append((b"x-actor-token", actor_token.encode("ascii")))
    if client_host:
        kept.append((b"x-forwarded-for", client_host.encode("latin-1")))
    if host:
        kept.append((b"x-forwarded-host", host))
    kept.append((b"x-forwarded-proto", scheme.encode("latin-1")))
    return kept


def with_trace_context(headers: RawHeaders) -> RawHeaders:
    """`headers` with the current trace context in place of any the client sent."""
    kept = [(name, value) for name, value in headers if name.decode("latin-1") not in TRACE_HEADERS]
    carrier = tracing.current_carrier() or {}
    return kept + [(name.encode(), value.encode("latin-1")) for name, value in carrier.items()]


def client_response_headers(
    headers: Iterable[tuple[bytes, bytes]], request_id: str, upstreams: Iterable[str] = ()
) -> RawHeaders:
    """Upstream headers minus hop-by-hop ones, with a `Location` on an upstream's own address
    turned into the gateway path it stands for (see `routing.gateway_location`)."""
    kept: RawHeaders = []
    listed: set[bytes] = set()
    for name, value in headers:
        name = name.lower()
        if name in _RESPONSE_STOP:
            if name == b"connection":
                listed |= _connection_listed(value)
        elif name == b"location":
            kept.append((name, _location(value, upstreams)))
        else:
            kept.append((name, value))
    if listed:
        kept = [(name, value) for name, value in kept if name not in listed]
    kept.append((b"x-request-id", request_id.encode()))
    return kept


def _location(value: bytes, upstreams: Iterable[str]) -> bytes:
    return gateway_location(value.decode("latin-1"), upstreams).encode("latin-1")

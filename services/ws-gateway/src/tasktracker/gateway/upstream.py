"""The gateway's HTTP client toward the services: one aiohttp pool per process.

Not httpx: profiled under load, 39% of the gateway's CPU went to httpcore checking every pooled
connection with a `select` call on each request, and 17% to anyio finding the current task;
the proxy cost more than the service behind it. aiohttp's pool hands out a connection without
either. What the proxy needs from a client, and how it is set here:

* no cookie jar (a `Set-Cookie` of one caller's answer must never ride on the next request),
  no redirects followed, no environment proxies, no body decompressed, no header added that
  the caller did not send (`User-Agent`, `Accept`, `Accept-Encoding`, `Content-Type`);
* the path and query go out exactly as they came (`encoded=True`: no re-quoting);
* timeouts: `connect` bounds the wait for a pooled connection, `sock_connect` the TCP connect,
  `sock_read` the wait for each piece of the answer, as httpx's pool/connect/read did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from starlette.requests import ClientDisconnect
from yarl import URL

from tasktracker.gateway.settings import GatewaySettings

RawHeaders = list[tuple[bytes, bytes]]

_NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamUnavailable(Exception):
    """Nothing answered: connection refused, or no connection within the connect timeout."""


class UpstreamTimeout(Exception):
    """The upstream accepted the request but did not answer in time."""


class UpstreamFailed(Exception):
    """The connection broke or the upstream answered something that is not HTTP."""


class BodyTooLarge(Exception):
    pass


class HeaderNotUtf8(Exception):
    """aiohttp writes header values as UTF-8 text: other bytes cannot go through unchanged."""


def create_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The pool; call inside the running event loop."""
    timeout = settings.upstream_timeout_seconds
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.upstream_max_connections,
            limit_per_host=0,
            use_dns_cache=True,
            keepalive_timeout=settings.upstream_keepalive_seconds,
        ),
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=timeout,
            sock_connect=min(settings.upstream_connect_timeout_seconds, timeout),
            sock_read=timeout,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=_NOT_ADDED,
        trust_env=False,
        requote_redirect_url=False,
    )


class RequestBody:
    """The client's body streamed upstream, cut off past `limit`. aiohttp wraps whatever the
    body raises into a connection error, so the cause is kept here to be told apart."""

    def __init__(self, stream: AsyncIterator[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.error: BodyTooLarge | ClientDisconnect | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        total = 0
        try:
            async for chunk in self.stream:
                total += len(chunk)
                if total > self.limit:
                    raise BodyTooLarge
                if chunk:
                    yield chunk
        except (BodyTooLarge, ClientDisconnect) as exc:
            self.error = exc
            raise


def _text_headers(headers: RawHeaders) -> list[tuple[str, str]]:
    try:
        return [(name.decode("latin-1"), value.decode("utf-8")) for name, value in headers]
    except UnicodeDecodeError as exc:
        raise HeaderNotUtf8 from exc


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: RawHeaders,
    body: bytes | RequestBody | None,
) -> aiohttp.ClientResponse:
    """The upstream's answer, its body not read yet (the caller streams it, then releases
    it). Raises one of this module's errors, or the body's own error (`BodyTooLarge`,
    `ClientDisconnect`)."""
    data = body.chunks() if isinstance(body, RequestBody) else body
    try:
        return await session.request(
            method,
            URL(url, encoded=True),
            headers=_text_headers(headers),
            data=data,
            allow_redirects=False,
        )
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        _raise_body_error(body)
        raise UpstreamUnavailable(repr(exc)) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        _raise_body_error(body)
        raise UpstreamTimeout(repr(exc)) from exc
    except aiohttp.ClientError as exc:
        _raise_body_error(body)
        raise UpstreamFailed(repr(exc)) from exc


def _raise_body_error(body: bytes | RequestBody | None) -> None:
    if isinstance(body, RequestBody) and body.error is not None:
        raise body.error

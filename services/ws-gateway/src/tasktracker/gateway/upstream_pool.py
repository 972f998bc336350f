"""The gateway's connections to the services: idle ones kept per upstream base URL and reused
last-in first-out (the warmest first, and the coldest age out), at most `max_connections`
open in all.

* A request that finds no idle connection opens one while fewer than `max_connections` are
  open (closing an idle one of another upstream if that is what stands in the way); else it
  queues until one is released or closed, for at most the connect timeout
  (`UpstreamUnavailable`, answered 503).
* A connection the service closes while idle is forgotten when that is noticed
  (`connection_lost`), so it is never handed out; the one left to chance — the service closes
  it just as a request goes out — is the client's to handle (`StaleConnection`).
* One periodic sweep, not a timer per request, closes connections idle for `keepalive`
  seconds and fails waits for an answer older than the read timeout (`UpstreamTimeout`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

from tasktracker.gateway.settings import GatewaySettings
from tasktracker.gateway.upstream_connection import UpstreamConnection
from tasktracker.gateway.upstream_errors import UpstreamUnavailable

SWEEPS_PER_TIMEOUT = 10  # a timeout fires between 1 and 1.1 times its setting
MAX_SWEEP_INTERVAL = 1.0


class Origin:
    """One upstream base URL: where to connect, the `Host` to name, its idle connections."""

    __slots__ = ("base_path", "host", "host_header", "idle", "port", "ssl")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default_port = 443 if parts.scheme == "https" else 80
        self.host = parts.hostname
        self.port = parts.port or default_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        # As aiohttp and browsers name it: the port only when it is not the scheme's default.
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        self.base_path = parts.path.rstrip("/")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.idle: list[UpstreamConnection] = []


class UpstreamPool:
    """Create inside the running event loop; `close()` on shutdown."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float,
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._loop = asyncio.get_running_loop()
        self._origins: dict[str, Origin] = {}
        self._connections: set[UpstreamConnection] = set()  # open, idle or in use
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.sweep_interval = min(MAX_SWEEP_INTERVAL, min(read_timeout, keepalive) / 10)
        self._sweeper = self._loop.call_later(self.sweep_interval, self._sweep)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> UpstreamPool:
        return cls(
            max_connections=settings.upstream_max_connections,
            connect_timeout=settings.upstream_connect_timeout_seconds,
            read_timeout=settings.upstream_timeout_seconds,
            keepalive=settings.upstream_keepalive_seconds,
        )

    @property
    def open_connections(self) -> int:
        return len(self._connections) + self._connecting

    def origin(self, upstream: str) -> Origin:
        origin = self._origins.get(upstream)
        if origin is None:
            origin = self._origins[upstream] = Origin(upstream)
        return origin

    async def acquire(self, origin: Origin) -> UpstreamConnection:
        """An idle connection to `origin`, or a new one (`UpstreamUnavailable` if none can
        be had within the connect timeout)."""
        deadline: float | None = None
        while True:
            if self._closed:
                raise UpstreamUnavailable("the gateway is shutting down")
            connection = self.take_idle(origin)
            if connection is not None:
                return connection
            if self.open_connections < self.max_connections or self._close_coldest_idle():
                return await self._connect(origin)
            if deadline is None:
                deadline = self._loop.time() + self.connect_timeout
            await self._wait_for_room(deadline)

    def take_idle(self, origin: Origin) -> UpstreamConnection | None:
        """The warmest idle connection to `origin`, if there is one (and the pool is open)."""
        idle = origin.idle
        while idle and not self._closed:
            connection = idle.pop()
            connection.idle_since = None  # out of the list: `_lost` must not look for it
            if not connection.closed:
                connection.reused = True
                return connection
        return None

    async def _wait_for_room(self, deadline: float) -> None:
        waiter = self._loop.create_future()
        self._waiters.append(waiter)  # `_wake_one` skips the ones given up
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken just as it gave up: pass the room on
            if isinstance(exc, TimeoutError):
                raise UpstreamUnavailable(
                    f"all {self.max_connections} upstream connections stayed busy "
                    f"for {self.connect_timeout} s"
                ) from None
            raise

    async def _connect(self, origin: Origin) -> UpstreamConnection:
        self._connecting += 1
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await self._loop.create_connection(
                    lambda: UpstreamConnection(origin, self._released, self._lost),
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"{origin.host}:{origin.port}: {exc!r}") from exc
        finally:
            self._connecting -= 1
        self._connections.add(connection)
        if self._closed:
            connection.close()
            raise UpstreamUnavailable("the gateway is shutting down")
        return connection

    def _released(self, connection: UpstreamConnection) -> None:
        if connection.reusable and not self._closed:
            connection.idle_since = self._loop.time()
            connection.origin.idle.append(connection)
            if self._waiters:
                self._wake_one()
        else:
            self._forget(connection)

    def _lost(self, connection: UpstreamConnection) -> None:
        if connection.idle_since is not None:
            connection.origin.idle.remove(connection)
            connection.idle_since = None
        if connection in self._connections:
            self._connections.discard(connection)
            if self._waiters:
                self._wake_one()

    def _close_coldest_idle(self) -> bool:
        """Closes the longest idle connection of any upstream, making room for a new one."""
        coldest = [origin.idle[0] for origin in self._origins.values() if origin.idle]
        if not coldest:
            return False
        self._forget(min(coldest, key=lambda connection: connection.idle_since or 0.0))
        return True

    def _forget(self, connection: UpstreamConnection) -> None:
        """Closes `connection` and stops counting it now, not when its close completes."""
        self._lost(connection)
        connection.close()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        now = self._loop.time()
        for connection in tuple(self._connections):
            if connection.idle_since is not None:
                if now - connection.idle_since >= self.keepalive:
                    self._forget(connection)
            elif _overdue(connection, now, self.read_timeout):
                connection.time_out()
        self._sweeper = self._loop.call_later(self.sweep_interval, self._sweep)

    async def close(self) -> None:
        """Closes every connection; requests still waiting for one fail (503)."""
        self._closed = True
        self._sweeper.cancel()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)  # to find the pool closed
        for connection in tuple(self._connections):
            self._forget(connection)
        await asyncio.sleep(0)  # the transports' close callbacks


def _overdue(connection: UpstreamConnection, now: float, timeout: float) -> bool:
    since = connection.answer_wait_since
    if since is not None and connection.request_written and now - since > timeout:
        return True
    since = connection.drain_wait_since
    return since is not None and now - since > timeout

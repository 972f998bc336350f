"""The gateway's ASGI app: health, metrics, `/ws` and the REST proxy."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from prometheus_client import REGISTRY

from tasktracker.contracts.ws import CloseCode
from tasktracker.gateway import metrics
from tasktracker.gateway.admission import SocketAdmission
from tasktracker.gateway.asgi_routes import proxy_first, proxy_routes
from tasktracker.gateway.auth import AuthError, TokenVerifier, bearer_token
from tasktracker.gateway.console import mount_console
from tasktracker.gateway.http_front import GatewayHttpProtocol
from tasktracker.gateway.hub import Hub
from tasktracker.gateway.proxy import Proxy, admin_refusal
from tasktracker.gateway.public_api import public_openapi
from tasktracker.gateway.session import Session, SessionLimits
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.gateway.upstream import UpstreamPool
from tasktracker.servicekit import heap, tracing
from tasktracker.servicekit.errors import install_error_handlers
from tasktracker.servicekit.health import health_router
from tasktracker.servicekit.metrics import HttpMetrics, exposition
from tasktracker.servicekit.natsconn import connect, nats_check
from tasktracker.servicekit.stream import ensure_space_stream

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    verifier = TokenVerifier.from_settings(settings)
    settings.actor_key()  # the services refuse every call without it: fail here, not per request
    limits = SessionLimits(
        send_queue_size=settings.send_queue_size,
        send_queue_bytes=settings.send_queue_bytes,
        replay_drain_timeout=settings.replay_drain_timeout_seconds,
        max_subscriptions=settings.max_subscriptions_per_socket,
        replay_batch_size=settings.replay_batch_size,
        close_timeout=settings.close_timeout_seconds,
        token_leeway=settings.jwt_leeway_seconds,
    )

    admission = SocketAdmission(settings.max_sockets_per_token, settings.max_sockets_per_client)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect(settings.nats_url, settings.service_name, **settings.nats_credentials())
        js = nc.jetstream()
        await ensure_space_stream(js, settings)
        hub = Hub(js, settings.stream_name, settings.max_concurrent_replays)
        await hub.start()
        pool = UpstreamPool.from_settings(settings)
        app.state.nats = nc
        app.state.hub = hub
        app.state.hub_metrics = metrics.hub_registry(hub)
        app.state.proxy = Proxy(settings, verifier, pool)
        heap.freeze_startup_heap()
        try:
            yield
        finally:
            await hub.stop()
            await pool.close()
            await nc.drain()

    app = FastAPI(
        title="Task Tracker API",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        telemetry=tracing.FASTAPI_TELEMETRY,
    )
    # `/openapi.json` and `/docs` show the public API the gateway routes (`public_api`), not
    # the gateway's own handful of routes.
    app.openapi = public_openapi  # type: ignore[method-assign]
    install_error_handlers(app)

    async def nats_ready() -> None:
        await nats_check(app.state.nats)()

    async def relay_ready() -> None:
        if not app.state.hub.running:
            raise RuntimeError("event relay is not running")

    app.include_router(health_router(lambda: {"nats": nats_ready, "relay": relay_ready}))

    if settings.metrics != "off":

        @app.get("/metrics", include_in_schema=False)
        async def metrics_page(request: Request) -> Response:
            if settings.metrics == "admin":
                refusal = admin_refusal(verifier, request)
                if refusal is not None:
                    return refusal
            return exposition(REGISTRY, request.app.state.hub_metrics)

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        hub: Hub = ws.app.state.hub
        await ws.accept()
        token = bearer_token(ws.headers, ws.query_params)
        try:
            claims = verifier.verify(token)
        except AuthError as exc:
            log.info("websocket refused: %s", exc)
            hub.stats.unauthorized_closes += 1
            await ws.close(CloseCode.UNAUTHORIZED, CloseCode.UNAUTHORIZED.reason)
            return
        assert token is not None  # verified
        ticket = admission.admit(token, ws.client.host if ws.client else None)
        if ticket is None:
            hub.stats.too_many_sockets_closes += 1
            await ws.close(CloseCode.TOO_MANY_SOCKETS, CloseCode.TOO_MANY_SOCKETS.reason)
            return
        try:
            await Session(ws, claims, hub, limits).run()
        finally:
            admission.release(ticket)

    mount_console(app)
    app.router.routes.extend(proxy_routes(lambda: app.state.proxy))
    # health, metrics, docs; the proxied paths are counted by the proxy (`proxy_first`)
    app.add_middleware(HttpMetrics, service=settings.service_name)
    return app


def server_config(
    settings: GatewaySettings, app: FastAPI | None = None, **overrides: object
) -> uvicorn.Config:
    """How the gateway is served: protocol-level pings drop dead sockets, and no per-message
    compression, which would deflate every event once per socket instead of sending the one
    serialised frame."""
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "ws_ping_interval": settings.ping_interval_seconds,
        "ws_ping_timeout": settings.ping_timeout_seconds,
        "ws_max_size": settings.max_frame_bytes,
        "ws_per_message_deflate": False,
        "access_log": settings.access_log,
        "log_config": None,  # uvicorn's loggers propagate to the root's (servicekit.logs)
        "timeout_graceful_shutdown": settings.close_timeout_seconds,
    }
    app = app or create_app(settings)
    # Small proxied requests are answered by the protocol itself, the rest by the app.
    options["http"] = functools.partial(
        GatewayHttpProtocol, proxy=lambda: getattr(app.state, "proxy", None)
    )
    options.update(overrides)
    config = uvicorn.Config(proxy_first(app), **options)  # type: ignore[arg-type]
    for name in ("uvicorn.error", "uvicorn.access"):  # uvicorn logs paths with their query
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    return config


class RedactTokens(logging.Filter):
    """Blanks `token=<jwt>` in log lines: browsers pass the token in the `/ws` query string."""

    _pattern = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = self._pattern.sub(r"\1[redacted]", record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True

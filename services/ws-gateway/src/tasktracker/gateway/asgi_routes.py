"""How HTTP reaches the proxy through ASGI, when the gateway's own protocol does not answer a
request in place (`http_front`): the app uvicorn serves (`proxy_first`), which hands `/api`
and `/webhook` straight to the proxy, and the same proxy as mounts of the FastAPI app."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from tasktracker.contracts.errors import ErrorCode
from tasktracker.gateway.proxy import (
    METHODS,
    PREFIXES,
    ROUTE_KEY,
    Proxy,
    error_answer,
    is_proxied,
)
from tasktracker.servicekit.metrics import COUNTED, UNMATCHED_ROUTE, count_request

log = logging.getLogger(__name__)


def proxy_app(proxy: Callable[[], Proxy], service: str = "gateway") -> ASGIApp:
    """The proxy as a plain ASGI app: it parses what it needs itself. Each request is
    counted and timed under the route prefix it matched (`tt_http_requests_total`)."""

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        if method not in METHODS:
            response = error_answer(
                405, ErrorCode.bad_request, "method not allowed", uuid.uuid4().hex
            )
        else:
            try:
                response = await proxy().handle(scope, receive)
            except Exception:
                log.exception("proxying %s %s failed", method, scope.get("path"))
                response = error_answer(500, ErrorCode.internal, "internal error", uuid.uuid4().hex)
        try:
            await response(scope, receive, send)
        finally:
            scope[COUNTED] = True
            route = scope.get(ROUTE_KEY, UNMATCHED_ROUTE)
            count_request(service, route, method, response.status_code, started)

    return forward


def proxy_routes(proxy: Callable[[], Proxy]) -> list[Mount]:
    """`/api` and `/webhook` as mounts of the FastAPI app (`proxy_first` serves them without
    going through FastAPI at all)."""
    forward = proxy_app(proxy)
    return [Mount(prefix, app=forward) for prefix in PREFIXES]


def proxy_first(app: FastAPI) -> ASGIApp:
    """The ASGI app uvicorn serves: HTTP under `/api` and `/webhook` straight to the proxy,
    everything else (health, metrics, docs, `/ws`, lifespan) to the FastAPI app. FastAPI's
    middleware and router took a fifth of the gateway's CPU per proxied request (py-spy) and
    do nothing the proxy uses."""
    forward = proxy_app(lambda: app.state.proxy)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_proxied(scope["path"]):
            await forward(scope, receive, send)
            return
        await app(scope, receive, send)

    return dispatch

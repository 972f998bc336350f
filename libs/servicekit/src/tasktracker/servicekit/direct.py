"""Routes served straight from a middleware, ahead of FastAPI's router.

FastAPI's router, exception middleware and dependency solving cost more than half of the
ingestion webhook's CPU per request (py-spy), for a route that needs none of them: its
function takes the `Request` and returns a `Response`. Such a route stays declared on its
router as any other (documented, in OpenAPI); `DirectRoutes` calls its function itself when
the (fixed) path and the method match, and answers an `ApiError` as the app's handler would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tasktracker.servicekit.errors import ApiError, error_response

Endpoint = Callable[[Request], Awaitable[Response]]
CLIENT_CLOSED = 499  # nginx's status for a client that closed the connection first


class DirectRoutes:
    """ASGI middleware: the listed routes' functions, called without routing. Inside the
    metrics and the caller check (`HttpMetrics`, `ActorGuard`), which see these as any route."""

    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute]) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], APIRoute] = {}
        for route in routes:
            if "{" in route.path:  # matched by the exact path
                raise ValueError(f"{route.path}: a direct route takes no path parameters")
            self.routes |= {(route.path, method): route for method in route.methods}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["type"] == "http" and self.routes.get((scope["path"], scope["method"]))
        if not route:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # what HttpMetrics labels the request with
        endpoint: Endpoint = route.endpoint
        try:
            response = await endpoint(Request(scope, receive))
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.details)
        except ClientDisconnect:  # gone mid-body: nobody to answer, and no server error
            response = Response(status_code=CLIENT_CLOSED)
        await response(scope, receive, send)

"""`DirectRoutes`: a route served ahead of FastAPI's router answers as it would through the
router, errors and metrics included, and every other path and method still reaches FastAPI."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY

from tasktracker.servicekit.direct import DirectRoutes
from tasktracker.servicekit.errors import ApiError, install_error_handlers
from tasktracker.servicekit.metrics import HttpMetrics, metrics_endpoint
from tests.fixtures.clients import asgi_client
from tests.fixtures.metrics import scrape

router = APIRouter()
served: list[str] = []


@router.post("/hooks/telegram")
async def hook(request: Request) -> Response:
    body = await request.body()
    if body == b"refuse":
        raise ApiError(409, "conflict", "refused", {"why": "asked to"})
    if body == b"crash":
        raise RuntimeError("a bug")
    served.append(request.url.path)
    return Response(b'{"ok":true}', media_type="application/json")


def app_with_direct_routes() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.add_api_route("/metrics", metrics_endpoint)
    app.add_middleware(DirectRoutes, routes=router.routes)
    app.add_middleware(HttpMetrics, service="kit-direct")
    return app


async def test_a_direct_route_answers_as_through_the_router_and_is_counted_by_template():
    app = app_with_direct_routes()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        before = await scrape(client)
        ok = await client.post("/hooks/telegram", content=b"hello")
        refused = await client.post("/hooks/telegram", content=b"refuse")
        crashed = await client.post("/hooks/telegram", content=b"crash")
        after = await scrape(client)

    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert ok.headers["content-type"] == "application/json"
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "conflict",
        "message": "refused",
        "details": {"why": "asked to"},
    }
    assert crashed.status_code == 500
    assert served == ["/hooks/telegram"]

    def delta(status: str) -> float:
        labels = {"service": "kit-direct", "route": "/hooks/telegram", "status": status}
        name = "tt_http_requests_total"
        return after.value(name, **labels) - before.value(name, **labels)

    assert (delta("200"), delta("409"), delta("500")) == (1, 1, 1)


async def test_other_paths_and_methods_go_through_fastapi():
    async with asgi_client(app_with_direct_routes()) as client:
        wrong_method = await client.get("/hooks/telegram")
        missing = await client.post("/hooks/telegram/more")
    assert wrong_method.status_code == 405
    assert missing.status_code == 404


def test_a_route_with_path_parameters_is_refused():
    templated = APIRouter()

    @templated.post("/hooks/{name}")
    async def named(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="path parameters"):
        DirectRoutes(FastAPI(), templated.routes)


async def test_a_client_gone_mid_body_is_counted_as_499_not_a_server_error():
    app = app_with_direct_routes()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/telegram",
        "raw_path": b"/hooks/telegram",
        "query_string": b"",
        "headers": [(b"content-length", b"100")],
        "app": app,
    }
    messages = iter([{"type": "http.request", "body": b"half", "more_body": True}])

    async def receive():
        return next(messages, {"type": "http.disconnect"})

    sent = []

    async def send(message):
        sent.append(message)

    before, served_before = _requests(status="499"), list(served)
    await app(scope, receive, send)
    assert sent[0]["status"] == 499
    assert _requests(status="499") == before + 1
    assert served == served_before  # the endpoint never finished


def _requests(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "tt_http_requests_total",
        {"service": "kit-direct", "route": "/hooks/telegram", "method": "POST", "status": status},
    )
    return value or 0.0

"""What the gateway shows about itself: docs and metrics are settings, and a proxied request
leaves no log line at INFO unless an access log is asked for."""

from __future__ import annotations

import json

import httpx
import pytest

from tasktracker.gateway.public_api import public_openapi
from tasktracker.gateway.settings import DEFAULT_ROUTES, GatewaySettings

from .helpers import (
    GatewayProcess,
    gateway_settings,
    process_env,
    running_gateway,
    token,
)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def test_production_defaults_hide_docs_and_keep_metrics_for_admins(nats_url, js):
    settings = gateway_settings(nats_url, metrics=GatewaySettings.model_fields["metrics"].default)
    async with (
        running_gateway(settings) as served,
        httpx.AsyncClient(base_url=served.http) as client,
    ):
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/metrics")).status_code == 401
        viewer = bearer(token({1: "admin"}))
        assert (await client.get("/metrics", headers=viewer)).status_code == 403
        page = await client.get("/metrics", headers=bearer(token(admin=True)))
        assert page.status_code == 200
        assert "tt_gateway_sockets" in page.text


async def test_dev_settings_show_docs_and_public_metrics(nats_url, js):
    settings = gateway_settings(nats_url, docs=True, metrics="public")
    async with (
        running_gateway(settings) as served,
        httpx.AsyncClient(base_url=served.http) as client,
    ):
        assert (await client.get("/docs")).status_code == 200
        # the public API the gateway routes, not the gateway's own few routes
        document = (await client.get("/openapi.json")).json()
        assert document == public_openapi()
        assert "/api/projects/{project_id}/runs" in document["paths"]
        assert "/healthz" not in document["paths"]
        assert "tt_gateway_sockets" in (await client.get("/metrics")).text


async def test_metrics_can_be_off(nats_url, js):
    async with (
        running_gateway(gateway_settings(nats_url, metrics="off")) as served,
        httpx.AsyncClient(base_url=served.http) as client,
    ):
        page = await client.get("/metrics", headers=bearer(token(admin=True)))
        assert page.status_code == 404


@pytest.mark.parametrize("access_log", [False, True])
async def test_no_line_per_proxied_request_at_info(nats_url, js, upstream, tmp_path, access_log):
    """`make run` printed each proxied request twice (uvicorn's access line, and httpx's line
    with the upstream's URL and query). At INFO now: nothing, or one access line if asked."""
    log = tmp_path / "gateway.log"
    routes = json.dumps({prefix: upstream for prefix in DEFAULT_ROUTES})
    env = process_env(
        nats_url,
        TT_GATEWAY_LOG_LEVEL="INFO",
        TT_GATEWAY_ROUTES=routes,
        TT_GATEWAY_ACCESS_LOG=str(access_log).lower(),
    )
    gateway = GatewayProcess(env, log=log)
    served = await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=served.http) as client:
            answer = await client.get(
                "/api/projects/1/messages?secret=query", headers=bearer(token({1: "viewer"}))
            )
            assert answer.status_code == 200
    finally:
        await gateway.stop()
    lines = log.read_text().splitlines()
    assert not [line for line in lines if upstream in line]  # never the upstream's URL
    proxied = [line for line in lines if "/api/projects/1/messages" in line]
    assert len(proxied) == (1 if access_log else 0), proxied

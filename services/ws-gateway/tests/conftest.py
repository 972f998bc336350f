from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
import uvicorn
from nats.js import JetStreamContext

from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

from .helpers import Served, free_port, gateway_settings, running_gateway, serve
from .upstream import upstream_app


@pytest.fixture(scope="session")
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_space_stream(js, NatsSettings(nats_url=nats_url))
    yield js
    await client.close()


@pytest.fixture(scope="module")
async def gateway(nats_url: str, js: JetStreamContext) -> AsyncIterator[Served]:
    """A gateway under uvicorn in the test's loop, with the default routes (no upstream)."""
    async with running_gateway(gateway_settings(nats_url)) as served:
        yield served


# The REST tests' upstream (a real app under uvicorn) and the gateway in front of it.
@pytest.fixture(scope="module")
async def upstream():
    port = free_port()
    config = uvicorn.Config(upstream_app(), host="127.0.0.1", port=port, log_level="warning")
    async with serve(config):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def gw(nats_url, js, upstream):
    settings = gateway_settings(
        nats_url,
        upstream,
        body_limit_bytes=1_000_000,
        import_body_limit_bytes=2_000_000,
        upstream_timeout_seconds=1,
    )
    async with (
        running_gateway(settings) as served,
        httpx.AsyncClient(base_url=served.http, timeout=10) as client,
    ):
        yield client

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

from .helpers import Served, gateway_settings, running_gateway


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

"""No 200 for an update that was not queued: when JetStream can't take it, answer 503."""

from __future__ import annotations

import time
from collections.abc import Iterator

import nats
import pytest

from tasktracker.devstack.embedded import EmbeddedNats
from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.settings import IngestionSettings
from tests.fixtures.clients import asgi_client

from .support import new_chat_id, post_update, sample, wait_for


@pytest.fixture
def private_nats(tmp_path) -> Iterator[EmbeddedNats]:
    """A NATS server of this test's own, which it may stop and start again."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def settings_for(settings: IngestionSettings, server: EmbeddedNats) -> IngestionSettings:
    return settings.model_copy(
        update={
            "nats_url": server.url,
            "relay_enabled": False,  # the relay of the shared database publishes elsewhere
            "webhook_enqueue_timeout_seconds": 1.0,
        }
    )


async def queued(url: str, stream: str) -> int:
    connection = await nats.connect(url)
    try:
        return (await connection.jetstream().stream_info(stream)).state.messages
    finally:
        await connection.close()


async def test_nats_down_is_503_and_the_retry_after_recovery_is_queued_once(settings, private_nats):
    settings = settings_for(settings, private_nats)
    app = create_app(settings)
    update = sample("text", chat_id=new_chat_id())
    async with asgi_client(app) as client:
        private_nats.stop()
        started = time.monotonic()
        response = await post_update(client, update)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert time.monotonic() - started < 5

        private_nats.start()  # Telegram delivers the update again once we are back

        async def accepted():
            return (await post_update(client, update)).status_code == 200

        await wait_for(accepted, within=30)

        async def runtime_reconnected():  # so that shutting the app down drains cleanly
            return app.state.runtime.nats.is_connected

        await wait_for(runtime_reconnected)
    assert await queued(private_nats.url, settings.updates_stream) == 1


async def test_missing_updates_stream_is_503(settings, private_nats):
    settings = settings_for(settings, private_nats)
    async with asgi_client(create_app(settings)) as client:
        connection = await nats.connect(private_nats.url)
        await connection.jetstream().delete_stream(settings.updates_stream)
        await connection.close()
        response = await post_update(client, sample("text", chat_id=new_chat_id()))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"

"""Readiness follows what the webhook needs: NATS. A PostgreSQL outage is reported, and the
API stays ready to take Telegram's updates."""

from __future__ import annotations

from tasktracker.devstack.embedded import EmbeddedPostgres
from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.settings import IngestionSettings
from tests.fixtures.clients import asgi_client


async def test_readiness_does_not_depend_on_postgres(settings: IngestionSettings, tmp_path):
    postgres = EmbeddedPostgres(tmp_path / "pg")
    url = postgres.start()
    app = create_app(settings.model_copy(update={"database_url": url, "relay_enabled": False}))
    try:
        async with asgi_client(app) as client:
            assert (await client.get("/readyz")).status_code == 200

            postgres.stop()
            during = await client.get("/readyz")
            assert during.status_code == 200, during.json()
            body = during.json()
            assert body["checks"]["nats"] == "ok"
            assert "postgres" not in body["checks"]
            assert body["optional"]["postgres"].startswith("error")
    finally:
        postgres.stop()

"""Every data service migrates its own database and answers /healthz and /readyz."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import asyncpg
import pytest

from tasktracker.servicekit.db import asyncpg_dsn
from tasktracker.servicekit.migrations import upgrade
from tests.fixtures.clients import asgi_client

SERVICES = ["ingestion", "knowledge", "analysis", "review"]


@pytest.mark.parametrize("service", SERVICES)
async def test_service_migrates_and_is_ready(service, database_factory, nats_url, session_id):
    package = importlib.import_module(f"tasktracker.{service}")
    settings_module = importlib.import_module(f"tasktracker.{service}.settings")
    app_module = importlib.import_module(f"tasktracker.{service}.app")
    settings_cls = getattr(settings_module, f"{service.capitalize()}Settings")

    url = database_factory(service)
    await asyncio.to_thread(upgrade, url, Path(package.__file__).with_name("migrations"))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert {"outbox", "alembic_version"} <= tables

    settings = settings_cls(
        database_url=url,
        nats_url=nats_url,
        jobs_stream=f"SKELETON_{service.upper()}_{session_id}",
        jobs_subject=f"skeleton.{service}.{session_id}",
        jobs_durable=f"skeleton-{service}-{session_id}",
        updates_stream=f"SKELETON_UPDATES_{service.upper()}_{session_id}",  # ingestion's
        updates_subject=f"skeleton.updates.{service}.{session_id}",
        webhook_secret="skeleton-test-secret",
    )
    app = app_module.create_app(settings)
    async with asgi_client(app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        checks = {"postgres": "ok", "nats": "ok", "relay": "ok"}
        assert {**ready.json()["checks"], **ready.json().get("optional", {})} == checks

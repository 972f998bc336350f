"""The review service over real PostgreSQL and real JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tasktracker.review
from tasktracker.review.app import create_app
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.migrations import upgrade
from tests.fixtures.clients import asgi_client

MIGRATIONS = Path(tasktracker.review.__file__).with_name("migrations")


@pytest.fixture(scope="session")
async def review_db(database_factory) -> str:
    url = database_factory("review")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    return url


@pytest.fixture(scope="session")
def settings(review_db: str, nats_url: str, session_id: str) -> ReviewSettings:
    return ReviewSettings(
        database_url=review_db,
        nats_url=nats_url,
        jobs_stream=f"TASKS_REVIEW_{session_id}",
        jobs_subject=f"tasks.review.{session_id}",
        jobs_durable=f"review-{session_id}",
        runs_durable=f"review-runs-{session_id}",
        messages_durable=f"review-messages-{session_id}",
        # the shared stream's history is other sessions' (and a running stack's) events
        events_since=datetime.now(UTC) - timedelta(minutes=1),
    )


@pytest.fixture(scope="session")
async def sessions(review_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(review_db)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: ReviewSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, headers={"X-Actor": "pm-anna"}) as client:
        yield client


@pytest.fixture(scope="session")
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(nats_url)
    yield connection.jetstream()
    await connection.close()

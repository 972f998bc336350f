"""The review service over real PostgreSQL and real JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tasktracker.review
from tasktracker.review.app import create_app
from tasktracker.review.settings import ReviewSettings
from tests.fixtures.clients import asgi_client
from tests.fixtures.infra import migrated_database, session_factory

MIGRATIONS = Path(tasktracker.review.__file__).with_name("migrations")


@pytest.fixture(scope="session")
async def review_db(database_factory) -> str:
    return await migrated_database(database_factory, "review")


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
    async for factory in session_factory(review_db):
        yield factory


@pytest.fixture(scope="session")
async def app(settings: ReviewSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, headers={"X-Actor": "pm-anna"}) as client:
        yield client

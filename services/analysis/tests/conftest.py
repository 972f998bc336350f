"""The analysis service over real PostgreSQL, real JetStream and a real worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tasktracker.analysis
from tasktracker.analysis.app import create_app
from tasktracker.analysis.settings import AnalysisSettings
from tests.fixtures.clients import asgi_client
from tests.fixtures.infra import migrated_database, session_factory

MIGRATIONS = Path(tasktracker.analysis.__file__).with_name("migrations")


@pytest.fixture(scope="session")
async def analysis_db(database_factory) -> str:
    return await migrated_database(database_factory, "analysis")


@pytest.fixture(scope="session")
def settings(analysis_db: str, nats_url: str, session_id: str) -> AnalysisSettings:
    return AnalysisSettings(
        database_url=analysis_db,
        nats_url=nats_url,
        jobs_stream=f"TASKS_ANALYSIS_{session_id}",
        jobs_subject=f"tasks.analysis.{session_id}",
        jobs_durable=f"analysis-{session_id}",
        messages_durable=f"analysis-messages-{session_id}",
        knowledge_durable=f"analysis-knowledge-{session_id}",
        decisions_durable=f"analysis-decisions-{session_id}",
        job_retry_delay_seconds=0.2,
        job_ack_wait_seconds=3,
        run_max_tries=2,
        consumers_start_time=datetime.now(UTC) - timedelta(seconds=5),
    )


@pytest.fixture(scope="session")
async def sessions(analysis_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async for factory in session_factory(analysis_db):
        yield factory


@pytest.fixture(scope="session")
async def app(settings: AnalysisSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client

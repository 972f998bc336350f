"""The knowledge service over real PostgreSQL and real JetStream."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import tasktracker.knowledge
from tasktracker.knowledge.app import create_app
from tasktracker.knowledge.settings import KnowledgeSettings
from tests.fixtures.clients import asgi_client
from tests.fixtures.infra import migrated_database, session_factory

MIGRATIONS = Path(tasktracker.knowledge.__file__).with_name("migrations")
_ids = itertools.count(1)
T = TypeVar("T")


@pytest.fixture(scope="session")
async def knowledge_db(database_factory) -> str:
    return await migrated_database(database_factory, "knowledge")


@pytest.fixture(scope="session")
def settings(knowledge_db: str, nats_url: str, session_id: str) -> KnowledgeSettings:
    return KnowledgeSettings(
        database_url=knowledge_db,
        nats_url=nats_url,
        jobs_stream=f"TASKS_KNOWLEDGE_{session_id}",
        jobs_subject=f"tasks.knowledge.{session_id}",
        jobs_durable=f"knowledge-{session_id}",
        messages_durable=f"knowledge-messages-{session_id}",
        job_retry_delay_seconds=0.1,
        extraction_chunk_size=5,
        extraction_max_tries=2,
        # The shared `space.>` stream holds other sessions' events: read from now on.
        messages_start_time=datetime.now(UTC) - timedelta(seconds=5),
    )


@pytest.fixture(scope="session")
async def sessions(knowledge_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async for factory in session_factory(knowledge_db):
        yield factory


@pytest.fixture(scope="session")
async def app(settings: KnowledgeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client

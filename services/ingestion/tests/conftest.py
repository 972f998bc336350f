"""The ingestion service over real PostgreSQL, real JetStream and a real worker process."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

import tasktracker.ingestion
from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.binding import Release
from tasktracker.ingestion.queue import enqueue_release
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.db import create_engine
from tasktracker.servicekit.migrations import upgrade
from tests.fixtures.clients import asgi_client

from .support import SECRET, reserve_project_ids

MIGRATIONS = Path(tasktracker.ingestion.__file__).with_name("migrations")


@pytest.fixture(scope="session")
async def ingestion_db(database_factory, project_ids) -> str:
    url = database_factory("ingestion")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    engine = create_engine(url)
    await reserve_project_ids(engine, project_ids, 500)
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
def settings(ingestion_db: str, nats_url: str, session_id: str) -> IngestionSettings:
    return IngestionSettings(
        database_url=ingestion_db,
        nats_url=nats_url,
        jobs_stream=f"TASKS_INGESTION_{session_id}",
        jobs_subject=f"tasks.ingestion.{session_id}",
        jobs_durable=f"ingestion-{session_id}",
        updates_stream=f"UPDATES_INGESTION_{session_id}",
        updates_subject=f"updates.ingestion.{session_id}",
        updates_durable=f"ingestion-updates-{session_id}",
        webhook_secret=SECRET,
        job_retry_delay_seconds=0.2,
    )


def settings_env(settings: IngestionSettings) -> dict[str, str]:
    """The same settings as `TT_INGESTION_*` variables, for a process of its own."""
    fields = (
        "database_url",
        "nats_url",
        "jobs_stream",
        "jobs_subject",
        "jobs_durable",
        "updates_stream",
        "updates_subject",
        "updates_durable",
        "job_retry_delay_seconds",
    )
    return {f"TT_INGESTION_{name.upper()}": str(getattr(settings, name)) for name in fields}


@pytest.fixture(scope="session")
async def engine(ingestion_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ingestion_db)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: IngestionSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def release(app: FastAPI) -> Release:
    """What the worker gives the ingest layer: queue the release of a chat's parked updates
    on the session's real job stream."""
    return partial(enqueue_release, app.state.runtime.job_broker)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


def console_script(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)
    return str(beside_python) if beside_python.exists() else shutil.which(name) or name


@pytest.fixture(scope="session")
def worker(
    settings: IngestionSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """`tasktracker-ingestion worker` as its own process, configured by environment."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [console_script("tasktracker-ingestion"), "worker"],
            env={**os.environ, **settings_env(settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.returncode not in (0, -signal.SIGTERM):
        print(log_path.read_text()[-5000:])

"""Extraction through `tasktracker-knowledge worker` as a real process: the API saves and
kicks, the worker runs the job and its relay publishes the events. A kick lost on the way
(the job stream is gone) is kicked again by the worker's sweeper."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest

from tasktracker.knowledge.app import create_app
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.migrations import upgrade
from tests.fixtures.clients import asgi_client
from tests.fixtures.jetstream import stream_messages
from tests.fixtures.processes import ServiceProcess

from .conftest import MIGRATIONS
from .support import eventually
from .test_extraction import seed

ENV_FIELDS = (
    "database_url",
    "nats_url",
    "jobs_stream",
    "jobs_subject",
    "jobs_durable",
    "job_retry_delay_seconds",
    "extraction_chunk_size",
    "extraction_max_tries",
    "extraction_requeue_after_seconds",
)


@pytest.fixture
async def worker_settings(database_factory, nats_url: str, session_id: str) -> KnowledgeSettings:
    """A database and a job stream of the test's own: the worker's sweeper must see no other
    test's pending extraction, and no other test's job."""
    url = database_factory("knowledge_worker")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    suffix = f"{session_id}_{uuid.uuid4().hex[:6]}"
    return KnowledgeSettings(
        database_url=url,
        nats_url=nats_url,
        jobs_stream=f"TASKS_KNOWLEDGE_W_{suffix}",
        jobs_subject=f"tasks.knowledge.w.{suffix}",
        jobs_durable=f"knowledge-w-{suffix}",
        messages_durable=f"knowledge-messages-w-{suffix}",
        job_retry_delay_seconds=0.1,
        extraction_chunk_size=5,
        extraction_max_tries=2,
        extraction_requeue_after_seconds=0.5,
    )


@pytest.fixture
async def api(worker_settings: KnowledgeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(worker_settings)) as client:
        yield client


def worker_process(settings: KnowledgeSettings, log_dir: Path) -> ServiceProcess:
    env = {f"TT_KNOWLEDGE_{name.upper()}": str(getattr(settings, name)) for name in ENV_FIELDS}
    return ServiceProcess("knowledge-worker", ["tasktracker-knowledge", "worker"], env, log_dir)


async def event_types(nats_url: str, project: int) -> list[str]:
    """The event types of the project's `knowledge_extraction` events on the space stream."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        found = await stream_messages(js, f"space.{project}.knowledge_extraction.>")
        return [message.subject.rsplit(".", 1)[-1] for message in found]
    finally:
        await client.close()


async def test_extraction_runs_in_the_worker_process_and_a_lost_kick_is_swept(
    api: httpx.AsyncClient,
    worker_settings: KnowledgeSettings,
    nats_url: str,
    project_ids,
    tmp_path: Path,
) -> None:
    settings = worker_settings
    engine = db.create_engine(settings.database_url)
    sessions = db.session_factory(engine)
    lost, kicked = next(project_ids), next(project_ids)
    lost_ids, kicked_ids = await seed(sessions, lost), await seed(sessions, kicked)

    # The job stream is gone: the kick fails after the extraction was committed.
    client = await nats.connect(nats_url)
    await client.jetstream().delete_stream(settings.jobs_stream)
    await client.close()
    answer = await api.post(
        f"/api/projects/{lost}/knowledge/extract", json={"message_ids": lost_ids}
    )
    assert answer.status_code == 202, answer.text  # saved: the request stands
    first = answer.json()["extraction_id"]
    blocked = await api.post(
        f"/api/projects/{lost}/knowledge/extract", json={"message_ids": lost_ids}
    )
    assert blocked.status_code == 409  # pending, until the sweeper kicks it

    worker = worker_process(settings, tmp_path)
    worker.start()
    try:
        answer = await api.post(
            f"/api/projects/{kicked}/knowledge/extract", json={"message_ids": kicked_ids}
        )
        assert answer.status_code == 202, answer.text
        second = answer.json()["extraction_id"]
        for project, extraction in ((lost, first), (kicked, second)):
            url = f"/api/projects/{project}/knowledge/extractions/{extraction}"
            state = await eventually(
                lambda url=url: _json(api, url),
                lambda s: s["status"] in ("completed", "failed"),
                seconds=120,  # the worker's imports take seconds on a busy machine
            )
            assert state["status"] == "completed", (state, worker.log_tail())
            assert (state["chunks_done"], state["chunks_total"]) == (2, 2)
            assert state["topic_proposals"] + state["atom_proposals"] > 0
            proposals = await _json(
                api, f"/api/projects/{project}/knowledge/proposals?extraction_id={extraction}"
            )
            assert len(proposals["items"]) == state["topic_proposals"] + state["atom_proposals"]
            events = await eventually(
                lambda project=project: event_types(nats_url, project),
                lambda types: "extraction_completed" in types,
            )
            assert events.count("extraction_started") == 1
            assert events.count("proposals_created") == 2  # a chunk, an event
    finally:
        worker.stop()
        await engine.dispose()


async def _json(client: httpx.AsyncClient, url: str) -> dict:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    return answer.json()

"""Races through the HTTP API over real PostgreSQL: exactly one of two competing requests
wins, the other gets 409.

Two requests gathered in one event loop rarely overlap by chance, so the test makes them
overlap: it holds a lock on what both must touch, lets both requests run until PostgreSQL
shows them waiting, then lets go. Whatever the service does to decide the race must then
decide it; without it both requests would pass their checks and both succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx
from sqlalchemy import text

from tasktracker.knowledge.agent import build_agent, offline_rules_model
from tasktracker.knowledge.extract import run_extraction
from tasktracker.knowledge.settings import KnowledgeSettings

from .support import eventually
from .test_extraction import request, seed

LOCK_WAITERS = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def race(
    sessions, lock: str, params: dict[str, Any], requests: list[Coroutine[Any, Any, httpx.Response]]
) -> list[httpx.Response]:
    """Run `requests` while `lock` is held, releasing it once all of them wait on a lock."""
    async with sessions() as holder, holder.begin():
        await holder.execute(text(lock), params)
        tasks = [asyncio.create_task(r) for r in requests]

        async def waiting() -> int:
            async with sessions() as probe:
                return (await probe.execute(LOCK_WAITERS)).scalar_one()

        try:
            await eventually(waiting, lambda n: n >= len(tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
    return list(await asyncio.gather(*tasks))


async def test_two_approvals_of_one_proposal_one_wins(
    client: httpx.AsyncClient, settings: KnowledgeSettings, sessions, project_ids
) -> None:
    project = next(project_ids)
    extraction = await request(client, project, await seed(sessions, project))
    agent = build_agent(settings, offline_rules_model())
    await run_extraction(sessions, agent, extraction, last_try=True, max_messages=1000)
    base = f"/api/projects/{project}/knowledge"
    page = (await client.get(f"{base}/proposals?status=pending")).json()
    atom = next(p for p in page["items"] if p["kind"] != "topic")
    if atom["topic_proposal_id"] is not None:  # its topic first: the race is the atom's alone
        topic = await client.post(f"{base}/proposals/{atom['topic_proposal_id']}/approve")
        assert topic.status_code == 200, topic.text

    answers = await race(
        sessions,
        "SELECT 1 FROM proposals WHERE id = :id FOR UPDATE",
        {"id": atom["id"]},
        [client.post(f"{base}/proposals/{atom['id']}/approve") for _ in range(2)],
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    atoms = (await client.get(f"{base}/atoms")).json()
    assert [a["proposal_id"] for a in atoms] == [atom["id"]]  # created once


async def test_two_extractions_over_overlapping_windows_one_is_accepted(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    await seed(sessions, project)
    base = f"/api/projects/{project}/knowledge"
    windows = (
        {"since": "2026-01-05T09:00:00Z", "until": "2026-01-05T09:05:00Z"},
        {"since": "2026-01-05T09:03:00Z", "until": "2026-01-05T09:10:00Z"},
    )
    answers = await race(
        sessions,
        "LOCK TABLE extractions IN ACCESS EXCLUSIVE MODE",
        {},
        [client.post(f"{base}/extract", json=w) for w in windows],
    )
    assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
    accepted = next(a for a in answers if a.status_code == 202).json()["extraction_id"]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["error"]["details"]["extraction_id"] == accepted
    listed = (await client.get(f"{base}/extractions")).json()
    assert [e["id"] for e in listed] == [accepted]

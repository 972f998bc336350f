"""Decisions through the HTTP API over real PostgreSQL: decided once, tallies exact under
concurrency, all-or-nothing bulk, merges, closed runs, and who decided."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
from sqlalchemy import func, select

from tasktracker.contracts.envelope import Envelope
from tasktracker.review.db.models import TaskRow, outbox
from tests.fixtures.actor import assert_refuses_unsigned_callers, signed_actor_headers

from .support import close_run, proposal, seed_run, tally


def base(project: int) -> str:
    return f"/api/projects/{project}/proposals"


async def make_task(client: httpx.AsyncClient, sessions, project: int, title: str) -> int:
    run_id = await seed_run(sessions, project, proposal(title))
    [item] = (await client.get(base(project), params={"run_id": str(run_id)})).json()["items"]
    approved = await client.put(f"{base(project)}/{item['id']}/approve")
    assert approved.status_code == 200, approved.text
    return approved.json()["task_id"]


async def events_of(sessions, kind: str) -> list[Envelope]:
    async with sessions() as session:
        rows = await session.execute(
            select(outbox.c.payload).where(outbox.c.subject.like(f"%.proposals.{kind}"))
        )
        return [Envelope.from_bytes(payload) for (payload,) in rows]


async def test_200_concurrent_decisions_are_each_counted_once(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    task_id = await make_task(client, sessions, project, "Existing task")
    proposals = [proposal(f"Proposal number {n}") for n in range(200)]
    run_id = await seed_run(sessions, project, *proposals)
    plan = [("approve", "reject", "merge")[n % 3] for n in range(200)]
    bodies = {"approve": None, "reject": {"reason": "not a task"}, "merge": {"task_id": task_id}}

    answers = await asyncio.gather(
        *(
            client.put(f"{base(project)}/{p.proposal_id}/{action}", json=bodies[action])
            for p, action in zip(proposals, plan, strict=True)
        )
    )
    assert Counter(a.status_code for a in answers) == {200: 200}
    want = Counter(
        {"approve": "approved", "reject": "rejected", "merge": "merged"}[a] for a in plan
    )
    assert await tally(sessions, run_id) == {"total": 200, "pending": 0, **want}
    # each decision's event carries the tally after it: every pending count 199…0 once
    events = [e for kind in want for e in await events_of(sessions, kind)]
    mine = [e for e in events if e.data["run_id"] == str(run_id)]
    assert sorted(e.data["counters"]["pending"] for e in mine) == list(range(200))
    assert {e.data["decided_by"] for e in mine} == {"pm-anna"}
    task = (await client.get(f"/api/projects/{project}/tasks/{task_id}")).json()
    merged = {p.proposal_id for p, a in zip(proposals, plan, strict=True) if a == "merge"}
    assert {uuid.UUID(p["id"]) for p in task["proposals"] if p["status"] == "merged"} == merged


async def test_the_same_proposal_approved_twice_at_once_is_one_200_and_one_409(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    target = proposal("Fix the login redirect")
    run_id = await seed_run(sessions, project, target)
    url = f"{base(project)}/{target.proposal_id}/approve"
    answers = await asyncio.gather(client.put(url), client.put(url))
    assert sorted(a.status_code for a in answers) == [200, 409]
    [refused] = [a for a in answers if a.status_code == 409]
    assert refused.json()["error"]["code"] == "conflict"
    assert await tally(sessions, run_id) == {
        "total": 1,
        "pending": 0,
        "approved": 1,
        "rejected": 0,
        "merged": 0,
    }
    async with sessions() as session:
        count = select(func.count()).select_from(TaskRow).where(TaskRow.project_id == project)
        assert (await session.execute(count)).scalar_one() == 1


async def test_two_duplicates_of_a_run_approve_one_merge_the_other(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    first = proposal("Fix the login redirect", sources=[1, 2])
    twin = proposal("Fix login redirect bug", sources=[2, 3])
    await seed_run(sessions, project, first, twin)
    approved = (await client.put(f"{base(project)}/{first.proposal_id}/approve")).json()
    suggested = (await client.get(f"{base(project)}/{twin.proposal_id}")).json()
    assert suggested["similar_proposal_id"] == str(first.proposal_id)
    assert suggested["suggested_task_id"] == approved["task_id"]
    merged = await client.put(
        f"{base(project)}/{twin.proposal_id}/merge", json={"task_id": approved["task_id"]}
    )
    assert merged.status_code == 200, merged.text
    task = (await client.get(f"/api/projects/{project}/tasks/{approved['task_id']}")).json()
    assert task["source_message_ids"] == [1, 2, 3]
    assert [(p["id"], p["status"]) for p in task["proposals"]] == [
        (str(first.proposal_id), "approved"),
        (str(twin.proposal_id), "merged"),
    ]


async def test_refusals(client: httpx.AsyncClient, sessions, project_ids) -> None:
    project, other = next(project_ids), next(project_ids)
    foreign_task = await make_task(client, sessions, other, "Another project's task")
    a, b = proposal("First"), proposal("Second")
    run_id = await seed_run(sessions, project, a, b)
    url = f"{base(project)}/{a.proposal_id}"

    merge = await client.put(f"{url}/merge", json={"task_id": foreign_task})
    assert (merge.status_code, merge.json()["error"]["code"]) == (404, "not_found")
    for body in (None, {}, {"reason": "   "}):
        rejected = await client.put(f"{url}/reject", json=body)
        assert rejected.status_code == 422, body
        assert rejected.json()["error"]["code"] == "validation_error"
    assert (await client.get(f"{base(other)}/{a.proposal_id}")).status_code == 404
    assert (await client.put(f"{base(other)}/{a.proposal_id}/approve")).status_code == 404
    assert (await client.put(f"{base(project)}/{uuid.uuid4()}/approve")).status_code == 404
    unchanged = {"total": 2, "pending": 2, "approved": 0, "rejected": 0, "merged": 0}
    assert await tally(sessions, run_id) == unchanged

    await close_run(sessions, project, run_id)
    for attempt in (
        client.put(f"{url}/approve"),
        client.put(f"{url}/reject", json={"reason": "dup"}),
        client.patch(url, json={"title": "Edited"}),
        client.put(f"{base(project)}/approve", json={"ids": [str(a.proposal_id)]}),
    ):
        answer = await attempt
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "conflict")
    assert await tally(sessions, run_id) == unchanged


async def test_bulk_with_one_decided_id_changes_nothing(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    items = [proposal(f"Bulk item {n}") for n in range(5)]
    run_id = await seed_run(sessions, project, *items)
    ids = [str(p.proposal_id) for p in items]
    assert (await client.put(f"{base(project)}/{ids[2]}/approve")).status_code == 200
    before = await tally(sessions, run_id)

    answer = await client.put(f"{base(project)}/approve", json={"ids": ids})
    assert answer.status_code == 409
    assert [r["id"] for r in answer.json()["error"]["details"]["refused"]] == [ids[2]]
    missing = await client.put(
        f"{base(project)}/reject", json={"ids": [*ids[:2], str(uuid.uuid4())], "reason": "no"}
    )
    assert missing.status_code == 404
    assert await tally(sessions, run_id) == before
    statuses = {
        p["id"]: p["status"]
        for p in (await client.get(base(project), params={"run_id": str(run_id)})).json()["items"]
    }
    assert statuses == {i: ("approved" if i == ids[2] else "pending") for i in ids}

    rest = [i for i in ids if i != ids[2]]
    done = await client.put(f"{base(project)}/reject", json={"ids": rest, "reason": "noise"})
    assert done.status_code == 200, done.text
    assert [p["id"] for p in done.json()] == rest
    assert await tally(sessions, run_id) == {
        "total": 5,
        "pending": 0,
        "approved": 1,
        "rejected": 4,
        "merged": 0,
    }


async def test_who_decided_is_the_gateway_actor_only(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    target = proposal("Fix the login redirect")
    await seed_run(sessions, project, target)
    url = f"{base(project)}/{target.proposal_id}/reject"
    await assert_refuses_unsigned_callers(client, "PUT", url)
    forged = await client.put(url, json={"reason": "dup", "decided_by": "mallory"})
    assert forged.status_code == 422  # who decided is never taken from the body
    signed = signed_actor_headers("PUT", url, "pm-anna")
    client_said = {"X-Actor": "mallory", "X-Actor-Name": "mallory"}
    answer = await client.put(url, json={"reason": "dup"}, headers=signed | client_said, auth=None)
    assert answer.json()["decided_by"] == "pm-anna"  # the signed token's `sub`, not a header
    [event] = [
        e
        for e in await events_of(sessions, "rejected")
        if e.data["proposal_id"] == str(target.proposal_id)
    ]
    assert event.data["decided_by"] == "pm-anna"

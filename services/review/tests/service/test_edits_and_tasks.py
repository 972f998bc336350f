"""Editing proposals, listing them, and tasks: list, read, change (each change an event)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tasktracker.contracts.envelope import Envelope
from tasktracker.review.db.models import outbox

from .support import proposal, seed_run


async def events(sessions, topic_type: str) -> list[dict]:
    async with sessions() as session:
        rows = await session.execute(
            select(outbox.c.payload)
            .where(outbox.c.subject.like(f"%.{topic_type}"))
            .order_by(outbox.c.seq)
        )
        return [Envelope.from_bytes(payload).data for (payload,) in rows]


async def test_a_pending_proposal_is_edited_and_marked_edited(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    target = proposal("Fix the login redirect")
    await seed_run(sessions, project, target)
    url = f"/api/projects/{project}/proposals/{target.proposal_id}"
    for bad in ({}, {"title": ""}, {"priority": "someday"}, {"status": "approved"}):
        assert (await client.patch(url, json=bad)).status_code == 422, bad
    edited = await client.patch(
        url,
        json={
            "title": "  Fix the login redirect on mobile ",
            "tags": ["auth"],
            "assignee": "@dana",
        },
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["title"], body["tags"], body["assignee"], body["edited"]) == (
        "Fix the login redirect on mobile",
        ["auth"],
        "@dana",
        True,
    )
    [event] = [
        e
        for e in await events(sessions, "proposals.updated")
        if e["proposal_id"] == str(target.proposal_id)
    ]
    assert event["changes"] == {
        "title": "Fix the login redirect on mobile",
        "tags": ["auth"],
        "assignee": "@dana",
    }
    approved = (await client.put(f"{url}/approve")).json()
    assert approved["status"] == "approved"
    [decided] = [
        e
        for e in await events(sessions, "proposals.approved")
        if e["proposal_id"] == str(target.proposal_id)
    ]
    assert decided["edited"] is True
    task = (await client.get(f"/api/projects/{project}/tasks/{approved['task_id']}")).json()
    assert (task["title"], task["assignee"]) == ("Fix the login redirect on mobile", "@dana")
    assert (await client.patch(url, json={"title": "Too late"})).status_code == 409


async def test_proposals_are_filtered_sorted_and_paged(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project = next(project_ids)
    items = [proposal(f"Item {n}", confidence=n / 10) for n in range(10)]
    run_id = await seed_run(sessions, project, *items)
    url = f"/api/projects/{project}/proposals"
    seen, cursor = [], None
    while True:
        params = {"run_id": str(run_id), "sort": "-confidence", "limit": 3, "min_confidence": 0.25}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(url, params=params)).json()
        seen += [p["confidence"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    assert (await client.get(url, params={"cursor": "garbage"})).status_code == 422
    assert (await client.get(url, params={"sort": "title"})).status_code == 422
    await client.put(f"{url}/{items[0].proposal_id}/reject", json={"reason": "noise"})
    rejected = (await client.get(url, params={"status": "rejected"})).json()["items"]
    assert [p["id"] for p in rejected] == [str(items[0].proposal_id)]


async def test_tasks_change_one_step_at_a_time_each_change_an_event(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project, other = next(project_ids), next(project_ids)
    made = [proposal(f"Task {n}") for n in range(3)]
    await seed_run(sessions, project, *made)
    ids = []
    for p in made:
        answer = await client.put(f"/api/projects/{project}/proposals/{p.proposal_id}/approve")
        ids.append(answer.json()["task_id"])
    url = f"/api/projects/{project}/tasks/{ids[0]}"
    assert (await client.patch(url, json={"status": "done"})).status_code == 409  # skips a step
    for step in ("in_progress", "done", "in_progress"):
        answer = await client.patch(url, json={"status": step})
        assert (answer.status_code, answer.json()["status"]) == (200, step)
    changed = await client.patch(url, json={"assignee": "@boris", "description": "Now with steps"})
    assert changed.json()["assignee"] == "@boris"
    unchanged = await client.patch(url, json={"assignee": "@boris"})
    assert unchanged.status_code == 200
    mine = [e for e in await events(sessions, "tasks.task_updated") if e["task_id"] == ids[0]]
    assert [e["changes"] for e in mine] == [
        {"status": "in_progress"},
        {"status": "done"},
        {"status": "in_progress"},
        {"assignee": "@boris", "description": "Now with steps"},
    ]
    created = [e for e in await events(sessions, "tasks.task_created") if e["task"]["id"] in ids]
    assert len(created) == 3
    assert (await client.get(f"/api/projects/{other}/tasks/{ids[0]}")).status_code == 404
    assert (
        await client.patch(f"/api/projects/{other}/tasks/{ids[0]}", json={"title": "x"})
    ).status_code == 404

    listed = (
        await client.get(f"/api/projects/{project}/tasks", params={"assignee": "@boris"})
    ).json()["items"]
    assert [t["id"] for t in listed] == [ids[0]]
    page = (await client.get(f"/api/projects/{project}/tasks", params={"limit": 2})).json()
    rest = (
        await client.get(
            f"/api/projects/{project}/tasks", params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [t["id"] for t in page["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None

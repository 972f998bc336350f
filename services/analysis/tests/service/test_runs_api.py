"""The runs API over real PostgreSQL: the database decides under concurrency."""

from __future__ import annotations

import asyncio

import httpx

from tests.fixtures.actor import DEFAULT_ACTOR, assert_refuses_unsigned_callers

from .support import WINDOW, create_run, run_state, staged_events


async def test_bad_windows_are_422(client: httpx.AsyncClient, project_ids) -> None:
    project = next(project_ids)
    base = f"/api/projects/{project}/runs"
    for body in (
        {},
        {"window_start": "2026-01-05T10:00:00Z", "window_end": "2026-01-05T09:00:00Z"},
        {"window_start": "2026-01-05T10:00:00Z", "window_end": "2026-01-05T10:00:00Z"},
        {"window_start": "2026-01-05T10:00:00", "window_end": "2026-01-05T11:00:00"},  # naive
        {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-06-01T00:00:00Z"},
        {**WINDOW, "extra": 1},
    ):
        answer = await client.post(base, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "validation_error"
    assert (await client.get(base)).json()["items"] == []


async def test_twenty_concurrent_creates_give_one_run(client: httpx.AsyncClient, project_ids):
    project = next(project_ids)
    answers = await asyncio.gather(
        *(client.post(f"/api/projects/{project}/runs", json=WINDOW) for _ in range(20))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 19
    created = next(a.json() for a in answers if a.status_code == 201)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["details"]["run_id"] == created["id"]
    page = (await client.get(f"/api/projects/{project}/runs")).json()
    assert [r["id"] for r in page["items"]] == [created["id"]]
    assert created["status"] == "pending" and created["created_by"] == DEFAULT_ACTOR


async def test_a_closed_or_cancelled_run_lets_the_next_one_be_created(client, project_ids):
    project = next(project_ids)
    run = await create_run(client, project)
    cancelled = await client.post(f"/api/projects/{project}/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/api/projects/{project}/runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"current": "cancelled", "target": "cancelled"}
    assert (await client.post(f"/api/projects/{project}/runs/{run['id']}/start")).status_code == 409
    await create_run(client, project)


async def test_two_concurrent_starts_give_one_202(client, sessions, project_ids) -> None:
    project = next(project_ids)
    run = await create_run(client, project)
    url = f"/api/projects/{project}/runs/{run['id']}/start"
    answers = await asyncio.gather(client.post(url), client.post(url))
    assert sorted(a.status_code for a in answers) == [202, 409]
    assert (await run_state(client, project, run["id"]))["timings"]["start_requested_at"]


async def test_close_is_409_unless_completed_or_reviewed(client, project_ids) -> None:
    project = next(project_ids)
    run = await create_run(client, project)
    answer = await client.put(f"/api/projects/{project}/runs/{run['id']}/close")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"] == {"current": "pending", "target": "closed"}


async def test_runs_of_another_project_are_not_found(client, project_ids) -> None:
    project, other = next(project_ids), next(project_ids)
    run = await create_run(client, project)
    for method, path in (
        ("GET", ""),
        ("POST", "/start"),
        ("POST", "/cancel"),
        ("PUT", "/close"),
    ):
        answer = await client.request(method, f"/api/projects/{other}/runs/{run['id']}{path}")
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "not_found"


async def test_list_filters_and_pages(client, project_ids) -> None:
    project = next(project_ids)
    ids = []
    for _ in range(3):
        run = await create_run(client, project)
        ids.append(run["id"])
        await client.post(f"/api/projects/{project}/runs/{run['id']}/cancel")
    base = f"/api/projects/{project}/runs"
    first = (await client.get(base, params={"limit": 2})).json()
    second = (await client.get(base, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [r["id"] for r in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert (await client.get(base, params={"status": "pending"})).json()["items"] == []
    assert (await client.get(base, params={"status": "nope"})).status_code == 422
    assert (await client.get(base, params={"cursor": "%%%"})).status_code == 422


async def test_create_and_cancel_stage_their_events(client, sessions, project_ids) -> None:
    project = next(project_ids)
    run = await create_run(client, project)
    await client.post(
        f"/api/projects/{project}/runs/{run['id']}/cancel",
        json={"reason": "wrong window"},
        headers={"X-Actor": "pm-1"},
    )
    events = await staged_events(sessions, run["id"])
    assert [e.type for e in events] == ["run_created", "run_cancelled"]
    assert events[1].data["cancelled_by"] == "pm-1"
    assert events[1].data["reason"] == "wrong window"


async def test_only_a_caller_the_gateway_signed_for_creates_a_run(client, project_ids):
    project = next(project_ids)
    url = f"/api/projects/{project}/runs"
    await assert_refuses_unsigned_callers(client, "POST", url)
    created = await client.post(url, json=WINDOW, headers={"X-Actor": "pm-bob"})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "pm-bob"  # the token's `sub`

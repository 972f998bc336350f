"""Projects and chat bindings over the HTTP API (real PostgreSQL, real JetStream)."""

from __future__ import annotations

import asyncio

import pytest

from .support import bind, create_project, new_chat_id, settled_events


async def test_create_project_with_default_settings(client):
    response = await client.post(
        "/api/projects", json={"name": "  Apollo  "}, headers={"X-Actor": "pm@example.com"}
    )
    assert response.status_code == 201
    project = response.json()
    assert project["name"] == "Apollo"
    assert project["settings"] == {
        "batch_gap_minutes": 10,
        "batch_max_messages": 50,
        "analysis_concurrency": 1,
    }
    assert project["created_by"] == "pm@example.com"
    assert (await client.get(f"/api/projects/{project['id']}")).json() == project
    listed = (await client.get("/api/projects")).json()
    assert project in listed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x", "settings": {"batch_gap_minutes": 0}},
        {"name": "x", "settings": {"batch_max_messages": 1001}},
        {"name": "x", "settings": {"analysis_concurrency": 17}},
        {"name": "x", "settings": {"surprise": 1}},
        {"name": "x", "colour": "blue"},
    ],
)
async def test_invalid_project_is_422(client, body):
    before = len((await client.get("/api/projects")).json())
    response = await client.post("/api/projects", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert len((await client.get("/api/projects")).json()) == before


async def test_create_and_patch_announce_the_whole_project(client, engine, js):
    project_id = await create_project(client, name="Checkout")
    await client.patch(f"/api/projects/{project_id}", json={"settings": {"batch_gap_minutes": 5}})
    await client.patch(f"/api/projects/{project_id}", json={})  # no change: no event
    events = await settled_events(
        js, engine, project_id, at_least=2, event_type="ingestion.project_configured"
    )
    assert [e.data for e in events] == [
        {
            "name": "Checkout",
            "settings": {
                "batch_gap_minutes": gap,
                "batch_max_messages": 50,
                "analysis_concurrency": 1,
            },
        }
        for gap in (10, 5)
    ]


async def test_invalid_patch_announces_nothing(client, engine, js):
    project_id = await create_project(client)
    response = await client.patch(
        f"/api/projects/{project_id}", json={"settings": {"batch_max_messages": 0}}
    )
    assert response.status_code == 422
    [created] = await settled_events(
        js, engine, project_id, event_type="ingestion.project_configured"
    )
    assert created.data["settings"]["batch_max_messages"] == 50


async def test_patch_settings_within_ranges(client):
    project_id = await create_project(client)
    response = await client.patch(
        f"/api/projects/{project_id}",
        json={"settings": {"batch_gap_minutes": 30, "analysis_concurrency": 4}},
    )
    assert response.status_code == 200
    assert response.json()["settings"] == {
        "batch_gap_minutes": 30,
        "batch_max_messages": 50,
        "analysis_concurrency": 4,
    }
    renamed = await client.patch(f"/api/projects/{project_id}", json={"name": "Renamed"})
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["settings"]["batch_gap_minutes"] == 30


@pytest.mark.parametrize(
    "bad_settings",
    [
        {"batch_gap_minutes": -1},
        {"batch_gap_minutes": 1441},
        {"batch_max_messages": 0},
        {"analysis_concurrency": 0},
        {"batch_gap_minutes": "soon"},
    ],
)
async def test_patch_out_of_range_is_422_and_changes_nothing(client, bad_settings):
    project_id = await create_project(client)
    before = (await client.get(f"/api/projects/{project_id}")).json()
    response = await client.patch(f"/api/projects/{project_id}", json={"settings": bad_settings})
    assert response.status_code == 422
    assert (await client.get(f"/api/projects/{project_id}")).json() == before


async def test_unknown_project_is_404(client):
    for response in (
        await client.get("/api/projects/999999999999"),
        await client.patch("/api/projects/999999999999", json={"name": "x"}),
        await client.get("/api/projects/999999999999/sources"),
        await client.post("/api/projects/999999999999/sources", json={"chat_id": 1}),
        await client.get("/api/projects/999999999999/messages"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_bind_list_and_unbind_a_chat(client, engine, js):
    project_id = await create_project(client)
    chat_id = new_chat_id()
    response = await bind(client, project_id, chat_id)
    assert response.status_code == 201
    source = response.json()
    assert source["chat_id"] == chat_id and source["project_id"] == project_id
    assert source["bound_by"] == "admin@example.com"
    assert source["released_parked"] == 0
    [listed] = (await client.get(f"/api/projects/{project_id}/sources")).json()
    assert listed["chat_id"] == chat_id

    again = await bind(client, project_id, chat_id)
    assert again.status_code == 200  # binding again is a no-op, not a second binding

    [event] = await settled_events(js, engine, project_id, event_type="ingestion.chat_bound")
    assert event.data == {"chat_id": chat_id, "released_parked": 0}

    assert (await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")).status_code == 204
    assert (await client.get(f"/api/projects/{project_id}/sources")).json() == []
    gone = await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")
    assert gone.status_code == 404


async def test_a_chat_belongs_to_at_most_one_project(client):
    first, second = await create_project(client), await create_project(client)
    chat_id = new_chat_id()
    assert (await bind(client, first, chat_id)).status_code == 201
    response = await bind(client, second, chat_id)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert (await client.get(f"/api/projects/{second}/sources")).json() == []
    # Another project can't unbind it either.
    assert (await client.delete(f"/api/projects/{second}/sources/{chat_id}")).status_code == 404


async def test_concurrent_binds_of_one_chat_one_wins(client):
    projects = [await create_project(client) for _ in range(4)]
    chat_id = new_chat_id()
    responses = await asyncio.gather(*(bind(client, pid, chat_id) for pid in projects))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]

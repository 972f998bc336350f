"""Projects and chat bindings over the HTTP API (real PostgreSQL, real JetStream)."""

from __future__ import annotations

import asyncio

import pytest

from tasktracker.ingestion.storable import INT64_MAX, INT64_MIN
from tests.fixtures.actor import SignedActor, assert_refuses_unsigned_callers

from .support import (
    bind,
    bound_project,
    create_project,
    new_chat_id,
    outbox_drained,
    post_update,
    sample,
    settled_events,
    stream_events,
)

OVER = 10**20  # beyond PostgreSQL's bigint
BINDINGS = "/api/ingestion/bindings"


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


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b"}',
        b'{"name": "a\\ud800b"}',  # an unpaired surrogate: not encodable as UTF-8
        b'{"name": "\\u0000"}',
    ],
)
async def test_project_name_postgresql_cannot_store_is_422(client, body):
    before = len((await client.get("/api/projects")).json())
    response = await client.post(
        "/api/projects", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["body", "name"]
    assert len((await client.get("/api/projects")).json()) == before


async def test_nul_in_a_rename_is_422(client):
    project_id = await create_project(client)
    rename = await client.patch(f"/api/projects/{project_id}", json={"name": "x\x00"})
    assert rename.status_code == 422


async def test_the_api_needs_the_gateways_signed_caller_and_the_webhook_its_secret(client):
    await assert_refuses_unsigned_callers(client, "POST", "/api/projects")
    await assert_refuses_unsigned_callers(client, "GET", "/api/projects")
    created = await client.post("/api/projects", json={"name": "x"}, headers={"X-Actor": "pm-b"})
    assert created.json()["created_by"] == "pm-b"  # the token's `sub`
    client.auth = None  # Telegram signs nothing: its own secret is the webhook's check
    try:
        assert (await post_update(client, sample("text", chat_id=new_chat_id()))).status_code == 200
        assert (
            await post_update(client, sample("text", chat_id=new_chat_id()), secret="wrong")
        ).status_code == 401
    finally:
        client.auth = SignedActor()


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("GET", "/api/projects/{over}", None, ["path", "project_id"]),
        ("GET", "/api/projects/-{over}", None, ["path", "project_id"]),
        ("PATCH", "/api/projects/{over}", {"name": "x"}, ["path", "project_id"]),
        ("GET", "/api/projects/{over}/sources", None, ["path", "project_id"]),
        ("POST", "/api/projects/{over}/sources/bind-codes", None, ["path", "project_id"]),
        ("POST", BINDINGS, {"project_id": "{pid}", "chat_id": OVER}, ["body", "chat_id"]),
        ("POST", BINDINGS, {"project_id": "{pid}", "chat_id": -OVER}, ["body", "chat_id"]),
        ("POST", BINDINGS, {"project_id": OVER, "chat_id": 1}, ["body", "project_id"]),
        (
            "POST",
            BINDINGS,
            {"project_id": "{pid}", "chat_id": 1, "title": "\x00"},
            ["body", "title"],
        ),
        ("DELETE", "/api/projects/{pid}/sources/{over}", None, ["path", "chat_id"]),
        ("DELETE", "/api/projects/{over}/sources/1", None, ["path", "project_id"]),
    ],
)
async def test_ids_beyond_bigint_are_422(client, method, path, body, loc):
    project_id = await create_project(client)
    url = path.format(over=OVER, pid=project_id)
    if body is not None and body.get("project_id") == "{pid}":
        body = {**body, "project_id": project_id}
    response = await client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == loc
    assert (await client.get(f"/api/projects/{project_id}/sources")).json() == []


async def test_ids_at_the_edges_of_bigint_are_accepted(client):
    for edge in (INT64_MAX, INT64_MIN):
        assert (await client.get(f"/api/projects/{edge}")).status_code == 404
        gone = await client.delete(f"/api/projects/{edge}/sources/{edge}")
        assert gone.status_code == 404
    project_id = await create_project(client)
    response = await bind(client, project_id, INT64_MIN)
    assert response.status_code == 201 and response.json()["chat_id"] == INT64_MIN
    unbound = await client.delete(f"/api/projects/{project_id}/sources/{INT64_MIN}")
    assert unbound.status_code == 204


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
        await client.post(BINDINGS, json={"project_id": 999999999999, "chat_id": 1}),
        await client.post("/api/projects/999999999999/sources/bind-codes"),
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


async def test_unbinding_announces_it_after_the_binding(client, engine, js):
    project_id, chat_id = await bound_project(client)
    assert (await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")).status_code == 204
    [unbound] = await settled_events(js, engine, project_id, event_type="ingestion.chat_unbound")
    assert unbound.subject == f"space.{project_id}.messages.ingestion.chat_unbound"
    assert unbound.producer == "ingestion"
    assert unbound.data == {"chat_id": chat_id}
    types = [event.type for event in await stream_events(js, project_id)]
    assert types.index("ingestion.chat_bound") < types.index("ingestion.chat_unbound")


async def test_an_unbind_that_is_404_announces_nothing(client, engine, js):
    project_id, chat_id = await bound_project(client)
    other = await create_project(client)
    not_bound = [
        (other, chat_id),  # bound, but to another project
        (project_id, new_chat_id()),  # never bound
    ]
    for pid, cid in not_bound:
        assert (await client.delete(f"/api/projects/{pid}/sources/{cid}")).status_code == 404
    assert (await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")).status_code == 204
    again = await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")
    assert again.status_code == 404  # already unbound

    [unbound] = await settled_events(js, engine, project_id, event_type="ingestion.chat_unbound")
    assert unbound.data == {"chat_id": chat_id}  # the one real unbind, once
    assert await outbox_drained(engine)
    assert "ingestion.chat_unbound" not in {e.type for e in await stream_events(js, other)}


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


async def test_a_project_admin_can_no_longer_bind_a_chat_by_its_id(client):
    """Binding by id released a chat's parked history to whoever named it: now it is 410,
    pointing at the code handshake, and binds nothing."""
    project_id = await create_project(client)
    chat_id = new_chat_id()
    response = await client.post(f"/api/projects/{project_id}/sources", json={"chat_id": chat_id})
    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == "gone" and "bind-codes" in error["message"]
    assert (await client.get(f"/api/projects/{project_id}/sources")).json() == []

"""`GET /api/projects/{pid}/messages`: keyset pages, time window, bounded limit, tenancy."""

from __future__ import annotations

import base64

import pytest

from tasktracker.ingestion.ingest import ingest_update
from tasktracker.servicekit.db import session_factory, transaction

from .support import bound_project, sample

T0 = 1718000000


async def seed(engine, release, chat_id: int, n: int, *, step: int = 60) -> None:
    """n text messages one `step` seconds apart, the first two in the same second."""
    async with transaction(session_factory(engine)) as session:
        for i in range(n):
            date = T0 + max(i - 1, 0) * step
            update = sample("text", chat_id=chat_id, message_id=100 + i, date=date, text=f"m{i}")
            await ingest_update(session, update, release=release)


async def all_pages(client, project_id: int, **params) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/api/projects/{project_id}/messages", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_keyset_pages_cover_every_message_once_in_time_order(client, engine, release):
    project_id, chat_id = await bound_project(client)
    await seed(engine, release, chat_id, 7)
    pages = await all_pages(client, project_id, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    texts = [m["text"] for page in pages for m in page]
    assert texts == [f"m{i}" for i in range(7)]
    flat = [m for page in pages for m in page]
    assert [(m["sent_at"], m["id"]) for m in flat] == sorted((m["sent_at"], m["id"]) for m in flat)


async def test_newest_first_pages_walk_back_in_time(client, engine, release):
    """`order=desc` (the console's chat, newest first): the same keyset, walked backwards."""
    project_id, chat_id = await bound_project(client)
    await seed(engine, release, chat_id, 7)
    pages = await all_pages(client, project_id, limit=3, order="desc")
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [m["text"] for page in pages for m in page] == [f"m{i}" for i in reversed(range(7))]
    [window] = await all_pages(
        client, project_id, order="desc", since="2024-06-10T06:14:20Z", until="2024-06-10T06:16:20Z"
    )
    assert [m["text"] for m in window] == ["m3", "m2"]


async def test_since_until_window(client, engine, release):
    project_id, chat_id = await bound_project(client)
    await seed(engine, release, chat_id, 6)
    [page] = await all_pages(
        client, project_id, since="2024-06-10T06:14:20Z", until="2024-06-10T06:16:20+00:00"
    )
    assert [m["text"] for m in page] == ["m2", "m3"]
    [naive] = await all_pages(client, project_id, since="2024-06-10T06:17:20")
    assert [m["text"] for m in naive] == ["m5"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"since": "yesterday"}, 422),
        ({"cursor": "not-a-cursor"}, 400),
        ({"cursor": "W10"}, 400),
        ({"order": "newest"}, 422),
    ],
)
async def test_bad_query_is_rejected(client, params, status):
    project_id, _ = await bound_project(client)
    response = await client.get(f"/api/projects/{project_id}/messages", params=params)
    assert response.status_code == status
    assert response.json()["error"]["code"] in {"validation_error", "bad_request"}


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


OVER = 10**20  # beyond PostgreSQL's bigint


@pytest.mark.parametrize(
    ("path", "params", "status", "loc"),
    [
        ("/api/projects/{over}/messages", {}, 422, ["path", "project_id"]),
        ("/api/projects/{pid}/messages/{over}", {}, 422, ["path", "message_id"]),
        ("/api/projects/{over}/messages/1", {}, 422, ["path", "project_id"]),
        ("/api/projects/{pid}/messages", {"chat_id": OVER}, 422, ["query", "chat_id"]),
        ("/api/projects/{pid}/messages", {"chat_id": -OVER}, 422, ["query", "chat_id"]),
        (
            "/api/projects/{pid}/messages",
            {"since": "0001-01-01T00:00:00+05:00"},
            422,
            ["query", "since"],
        ),
        (
            "/api/projects/{pid}/messages",
            {"until": "9999-12-31T23:59:59-05:00"},
            422,
            ["query", "until"],
        ),
        (
            "/api/projects/{pid}/messages",
            {"cursor": cursor_of(b'["2024-06-10T06:13:20+00:00", 100000000000000000000]')},
            400,
            [1],
        ),
        (
            "/api/projects/{pid}/messages",
            {"cursor": cursor_of(b'["2024-06-10T06:13:20+00:00", 1e400]')},
            400,
            [1],
        ),
        (
            "/api/projects/{pid}/messages",
            {"cursor": cursor_of(b'["0001-01-01T00:00:00+05:00", 1]')},
            400,
            [0],
        ),
        (
            "/api/projects/{pid}/messages",
            {"cursor": cursor_of(b'["2024-06-10T06:13:20+00:00", 1, 2]')},
            400,
            [],
        ),
        ("/api/projects/{pid}/messages", {"cursor": cursor_of(b"\xff")}, 400, []),
    ],
)
async def test_values_postgresql_cannot_store_are_refused(client, path, params, status, loc):
    project_id, _ = await bound_project(client)
    response = await client.get(path.format(pid=project_id, over=OVER), params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("validation_error" if status == 422 else "bad_request")
    assert error["details"][0]["loc"] == loc


async def test_the_widest_window_postgresql_can_be_asked_for(client, engine, release):
    project_id, chat_id = await bound_project(client)
    await seed(engine, release, chat_id, 2)
    widest = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"}
    [page] = await all_pages(client, project_id, **widest, chat_id=chat_id)
    assert len(page) == 2
    [naive] = await all_pages(client, project_id, since="0001-01-01T00:00:00")
    assert len(naive) == 2
    edge = cursor_of(b'["0001-01-01T00:00:00+00:00", -9223372036854775808]')
    response = await client.get(f"/api/projects/{project_id}/messages", params={"cursor": edge})
    assert len(response.json()["items"]) == 2


async def test_message_of_another_project_is_404(client, engine, release):
    project_a, chat_a = await bound_project(client)
    project_b, _ = await bound_project(client)
    await seed(engine, release, chat_a, 1)
    [[message]] = await all_pages(client, project_a)
    own = await client.get(f"/api/projects/{project_a}/messages/{message['id']}")
    assert own.status_code == 200 and own.json() == message
    other = await client.get(f"/api/projects/{project_b}/messages/{message['id']}")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/api/projects/{project_b}/messages/99999999999")).status_code == 404
    assert await all_pages(client, project_b) == [[]]


async def test_filter_by_chat(client, engine, release):
    project_id, chat_id = await bound_project(client)
    await seed(engine, release, chat_id, 2)
    [page] = await all_pages(client, project_id, chat_id=chat_id)
    assert len(page) == 2
    assert await all_pages(client, project_id, chat_id=chat_id + 1) == [[]]

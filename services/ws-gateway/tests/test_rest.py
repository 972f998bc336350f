"""REST routing through the gateway under uvicorn, to a real upstream under uvicorn."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from tasktracker.contracts.enums import Role
from tasktracker.gateway.auth import issue_token
from tasktracker.servicekit.actor import Actor, ActorTokenVerifier
from tests.fixtures.actor import TEST_INTERNAL_ACTOR_KEY
from tests.fixtures.metrics import scrape

from .helpers import (
    SECRET,
    auth,
    token,
)


def upstream_headers(body: dict) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in body["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


async def test_isolation_other_project_is_not_found(gw, project_ids):
    mine, other = next(project_ids), next(project_ids)
    tok = token({mine: "admin"})
    for method, path in [
        ("GET", f"/api/projects/{other}"),
        ("GET", f"/api/projects/{other}/runs"),
        ("POST", f"/api/projects/{other}/runs"),
        ("PATCH", f"/api/projects/{other}"),
        ("GET", f"/api/projects/{other}/proposals/123"),
    ]:
        response = await gw.request(method, path, headers=auth(tok))
        assert response.status_code == 404, (method, path)
        assert response.json() == {
            "error": {"code": "not_found", "message": "project not found", "details": None}
        }
    assert (await gw.get(f"/api/projects/{mine}/runs", headers=auth(tok))).status_code == 200


async def test_forged_actor_headers_never_reach_the_upstream(gw, project_ids):
    pid = next(project_ids)
    response = await gw.post(
        f"/api/projects/{pid}/runs?x=1&y=2",
        headers={
            **auth(token({pid: "pm"}, sub="alice")),
            "X-Actor": "mallory",
            "x-actor-id": "0",
            "X-Actor-Roles": "admin",
            "X-Actor-Token": "forged",
            "X-Request-Id": "forged",
        },
        json={"window": "today"},
    )
    assert response.status_code == 201
    body = response.json()
    seen = upstream_headers(body)
    assert [name for name in seen if name.startswith("x-actor")] == ["x-actor-token"]
    [signed] = seen["x-actor-token"]
    actor = ActorTokenVerifier(TEST_INTERNAL_ACTOR_KEY.encode()).verify(
        signed,
        method="POST",
        path=f"/api/projects/{pid}/runs",
        request_id=response.headers["x-request-id"],
    )
    assert actor == Actor(sub="alice", projects={pid: Role.pm})
    assert seen["x-request-id"] != ["forged"]
    assert seen["x-request-id"] == [response.headers["x-request-id"]]
    assert "authorization" not in seen
    assert body["path"] == f"/api/projects/{pid}/runs"
    assert body["query"] == "x=1&y=2"
    assert response.headers["x-upstream"] == "echo"
    assert response.headers.get_list("set-cookie") == ["a=1"]


ROLE_MATRIX = [
    ("viewer", "GET", "", 200),
    ("viewer", "GET", "/runs", 200),
    ("viewer", "GET", "/messages", 200),
    ("viewer", "POST", "/runs", 403),
    ("viewer", "POST", "/proposals/1/approve", 403),
    ("viewer", "PATCH", "", 403),
    ("pm", "POST", "/runs", 201),
    ("pm", "POST", "/runs/1/start", 201),
    ("pm", "POST", "/proposals/1/approve", 201),
    ("pm", "POST", "/extractions", 201),
    ("pm", "POST", "/knowledge/proposals/1/approve", 201),
    ("pm", "POST", "/sources", 403),
    ("pm", "PATCH", "", 403),
    ("admin", "POST", "/sources", 201),
    ("admin", "PATCH", "", 200),
    ("admin", "POST", "/runs", 201),
]


@pytest.mark.parametrize(("role", "method", "rest", "status"), ROLE_MATRIX)
async def test_role_matrix(gw, project_ids, role, method, rest, status):
    pid = next(project_ids)
    response = await gw.request(
        method, f"/api/projects/{pid}{rest}", headers=auth(token({pid: role})), json={}
    )
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"
    else:
        assert response.json()["method"] == method


async def test_project_list_and_create_need_global_admin(gw, project_ids):
    pid = next(project_ids)
    for method in ("GET", "POST"):
        refused = await gw.request(method, "/api/projects", headers=auth(token({pid: "admin"})))
        assert refused.status_code == 403
        allowed = await gw.request(method, "/api/projects", headers=auth(token(admin=True)))
        assert allowed.status_code in (200, 201)
    parked = await gw.get("/api/ingestion/parked", headers=auth(token({pid: "admin"})))
    assert parked.status_code == 403
    assert (await gw.get("/api/ingestion/parked", headers=auth(token(admin=True)))).is_success


async def test_missing_expired_and_malformed_tokens(gw, project_ids):
    pid = next(project_ids)
    path = f"/api/projects/{pid}/runs"
    # Expired well beyond the leeway for clock skew.
    expired = issue_token(
        SECRET, sub="alice", projects={pid: "admin"}, ttl_seconds=60, now=time.time() - 3600
    )
    for headers in (
        {},
        auth("garbage"),
        auth(expired),
        {"Authorization": "Basic YWxpY2U6cHc="},
        auth(token({pid: "admin"}, key="another-secret-of-32-bytes-or-more-xx")),
    ):
        response = await gw.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    # A token in the query string is for WebSockets only.
    query = await gw.get(path, params={"token": token({pid: "admin"})})
    assert query.status_code == 401


async def test_webhook_passes_without_a_token(gw):
    response = await gw.post(
        "/webhook/telegram",
        headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret", "X-Actor": "mallory"},
        json={"update_id": 1},
    )
    assert response.status_code == 201
    seen = upstream_headers(response.json())
    assert seen["x-telegram-bot-api-secret-token"] == ["s3cret"]
    assert not [name for name in seen if name.startswith("x-actor")]


async def test_non_ascii_headers_pass_through_as_bytes(gw, project_ids):
    """Browsers send UTF-8 cookies; HTTP headers are bytes, and the gateway forwards them as
    they came, on an authenticated call and on the public webhook alike."""
    pid = next(project_ids)
    cookie = "name=José; city=Zürich".encode()
    for method, path, headers in (
        ("GET", f"/api/projects/{pid}/messages", auth(token({pid: "viewer"}))),
        ("POST", "/webhook/telegram", {"X-Telegram-Bot-Api-Secret-Token": "s"}),
    ):
        response = await gw.request(method, path, headers={**headers, "Cookie": cookie})
        assert response.is_success, response.text
        seen = upstream_headers(response.json())
        assert [value.encode("latin-1") for value in seen["cookie"]] == [cookie]


async def test_a_header_that_is_not_utf8_is_a_clear_400(gw, project_ids):
    """Header values reach the upstream byte for byte when they are UTF-8 (the upstream
    client writes text); other bytes are refused rather than changed on the way."""
    pid = next(project_ids)
    response = await gw.get(
        f"/api/projects/{pid}/messages",
        headers={**auth(token({pid: "viewer"})), "X-Legacy": b"caf\xe9"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.headers["x-request-id"]


async def test_an_upstream_cookie_never_rides_on_the_next_request(gw, project_ids):
    """The echo answers `Set-Cookie: a=1`; the gateway's own client keeps no cookies, so the
    next caller's request reaches the upstream without it."""
    pid = next(project_ids)
    tok = auth(token({pid: "viewer"}))
    first = await gw.get(f"/api/projects/{pid}/messages", headers=tok)
    assert first.headers.get_list("set-cookie") == ["a=1"]
    gw.cookies.clear()  # the test's client keeps cookies; the gateway must not
    second = await gw.get(f"/api/projects/{pid}/messages", headers=tok)
    assert "cookie" not in upstream_headers(second.json())


async def test_a_non_ascii_subject_is_unauthorized(gw, project_ids):
    pid = next(project_ids)
    claims = {"sub": "josé", "projects": {str(pid): "viewer"}, "exp": 2_000_000_000}
    response = await gw.get(
        f"/api/projects/{pid}/messages", headers=auth(jwt.encode(claims, SECRET))
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_unknown_and_ambiguous_paths(gw, project_ids):
    pid = next(project_ids)
    tok = auth(token({pid: "admin"}, admin=False))
    assert (await gw.get("/api/nothing-here", headers=tok)).status_code == 404
    assert (await gw.get("/elsewhere", headers=tok)).status_code == 404
    other = next(project_ids)
    base = str(gw.base_url).rstrip("/")
    for path in (f"/api/projects/{pid}/..%2F{other}/runs", f"/api/projects/{pid}/../{other}"):
        # Sent over a raw socket: an HTTP client would normalise the dot segments itself.
        status, body = await raw_get(base, path, tok)
        assert status == 400, path
        assert b'"bad_request"' in body


async def raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


async def test_upstream_redirects_do_not_reveal_its_address(gw, upstream, project_ids):
    """The upstream's FastAPI redirects a trailing slash to an absolute URL on its own
    address; the client only ever sees the gateway's path, and following it works."""
    pid = next(project_ids)
    tok = auth(token({pid: "viewer"}))
    response = await gw.get(f"/api/projects/{pid}/messages/?limit=5", headers=tok)
    assert response.status_code == 307
    assert response.headers["location"] == f"/api/projects/{pid}/messages?limit=5"
    internal = upstream.removeprefix("http://")
    assert not [value for _, value in response.headers.multi_items() if internal in value]
    assert internal not in response.text
    followed = await gw.get(response.headers["location"], headers=tok)
    assert followed.status_code == 200
    assert (followed.json()["path"], followed.json()["query"]) == (
        f"/api/projects/{pid}/messages",
        "limit=5",
    )
    # A redirect to somewhere else is the upstream's business and passes unchanged.
    away = await gw.get(f"/api/projects/{pid}/runs/elsewhere", headers=tok)
    assert away.status_code == 302
    assert away.headers["location"] == "https://docs.example.org/runs"


async def test_health_endpoints(gw):
    assert (await gw.get("/healthz")).json() == {"status": "ok"}
    ready = await gw.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"nats": "ok", "relay": "ok"}
    assert "tt_gateway_sockets" in (await gw.get("/metrics")).text


def test_secret_is_not_the_default():
    assert len(SECRET) >= 32


async def test_proxied_requests_are_counted_by_route_prefix_never_the_path(gw, project_ids):
    """The proxy path bypasses FastAPI: it counts each request itself, under the prefix it
    matched (bounded), with the status the client got; health and metrics by their routes."""
    pid = next(project_ids)
    before = await scrape(gw)
    viewer = auth(token({pid: "viewer"}))
    for _ in range(3):
        assert (await gw.get(f"/api/projects/{pid}/runs", headers=viewer)).status_code == 200
    assert (await gw.post(f"/api/projects/{pid}/runs", headers=viewer)).status_code == 403
    assert (await gw.get("/api/nowhere/at/all", headers=viewer)).status_code == 404
    assert (await gw.get("/healthz")).status_code == 200
    after = await scrape(gw)

    def delta(**labels: str) -> float:
        name, gateway = "tt_http_requests_total", {"service": "gateway"}
        return after.value(name, **gateway, **labels) - before.value(name, **gateway, **labels)

    runs = "/api/projects/{project_id}/runs"
    assert delta(route=runs, method="GET", status="200") == 3
    assert delta(route=runs, method="POST", status="403") == 1
    assert delta(route="unmatched", method="GET", status="404") == 1
    assert delta(route="/healthz", method="GET", status="200") == 1
    assert not any(
        str(pid) in route for route in after.label_values("tt_http_requests_total", "route")
    )
    latency = "tt_http_request_duration_seconds_count"
    assert after.value(latency, route=runs) - before.value(latency, route=runs) == 4

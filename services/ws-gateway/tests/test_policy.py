"""The role policy and the route table: pure functions."""

import pytest

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.gateway.policy import authorize, parse_project_id, required_role
from tasktracker.gateway.routing import BadPath, RouteTable, is_public, split_path
from tasktracker.gateway.settings import DEFAULT_ROUTES


def claims(projects=None, admin=False) -> Claims:
    return Claims(sub="alice", projects=projects or {}, admin=admin, exp=2_000_000_000)


@pytest.mark.parametrize(
    ("method", "section", "role"),
    [
        ("GET", (), Role.viewer),
        ("HEAD", ("runs",), Role.viewer),
        ("OPTIONS", ("sources",), Role.viewer),
        ("get", ("proposals", "x"), Role.viewer),
        ("POST", ("runs",), Role.pm),
        ("POST", ("runs", "r1", "start"), Role.pm),
        ("POST", ("proposals", "p1", "approve"), Role.pm),
        ("PATCH", ("proposals", "p1"), Role.pm),
        ("POST", ("extractions",), Role.pm),
        ("POST", ("knowledge", "proposals", "k1", "approve"), Role.pm),
        ("PATCH", ("tasks", "t1"), Role.pm),
        ("PATCH", (), Role.admin),  # project settings
        ("DELETE", (), Role.admin),
        ("POST", ("sources",), Role.admin),
        ("DELETE", ("sources", "s1"), Role.admin),
        ("POST", ("messages",), Role.admin),
        ("POST", ("something-new",), Role.admin),  # closed until decided
    ],
)
def test_required_role(method, section, role):
    assert required_role(method, section) == role


MATRIX = [
    # (role, method, path after /api/projects/{pid}, allowed)
    ("viewer", "GET", "runs", True),
    ("viewer", "POST", "runs", False),
    ("viewer", "POST", "proposals/p/approve", False),
    ("pm", "POST", "runs", True),
    ("pm", "POST", "proposals/p/approve", True),
    ("pm", "POST", "extractions", True),
    ("pm", "POST", "sources", False),
    ("pm", "PATCH", "", False),
    ("admin", "POST", "sources", True),
    ("admin", "PATCH", "", True),
    ("admin", "POST", "runs", True),
]


@pytest.mark.parametrize(("role", "method", "rest", "allowed"), MATRIX)
def test_role_matrix(role, method, rest, allowed):
    path = ("api", "projects", "7", *[s for s in rest.split("/") if s])
    refusal = authorize(method, path, claims({7: role}))
    if allowed:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.status, refusal.code) == (403, "forbidden")


def test_project_not_in_token_is_not_found_for_every_method():
    for method in ("GET", "POST", "PATCH", "DELETE"):
        refusal = authorize(method, ("api", "projects", "8", "runs"), claims({7: "admin"}))
        assert refusal is not None
        assert (refusal.status, refusal.code, refusal.message) == (
            404,
            "not_found",
            "project not found",
        )


@pytest.mark.parametrize("segment", ["07", "+7", "7.0", "-7", "0", "\u0667", "seven", ""])
def test_non_canonical_project_ids_are_not_found(segment):
    assert parse_project_id(segment) is None
    refusal = authorize("GET", ("api", "projects", segment), claims({7: "admin"}))
    assert refusal is not None and refusal.status == 404


def test_global_admin_flag():
    assert authorize("POST", ("api", "projects"), claims(admin=True)) is None
    assert authorize("GET", ("api", "projects"), claims(admin=True)) is None
    assert authorize("POST", ("api", "projects", "99", "sources"), claims(admin=True)) is None
    refusal = authorize("GET", ("api", "projects"), claims({7: "admin"}))
    assert refusal is not None and refusal.status == 403
    refusal = authorize("GET", ("api", "ingestion", "parked"), claims({7: "admin"}))
    assert refusal is not None and refusal.status == 403


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("/", ()),
        ("/api/projects", ("api", "projects")),
        ("/api/projects/", ("api", "projects")),
        ("/api/projects/1/runs", ("api", "projects", "1", "runs")),
        ("/api/projects/1/messages/a%20b", ("api", "projects", "1", "messages", "a b")),
    ],
)
def test_split_path(raw, segments):
    assert split_path(raw) == segments


@pytest.mark.parametrize(
    "raw",
    [
        "/api/projects/1/../2/runs",
        "/api/projects/1/./runs",
        "/api/projects/1%2F..%2F2/runs",
        "/api/projects/1/%2e%2e/2",
        "/api//projects",
        "/api/projects/1%5C..",
        "api/projects",
    ],
)
def test_split_path_refuses_ambiguous_paths(raw):
    with pytest.raises(BadPath):
        split_path(raw)


def test_route_table_longest_prefix_wins():
    table = RouteTable(
        {
            "/api/projects": "http://ingestion",
            "/api/projects/{project_id}/runs": "http://analysis/",
            "/api/projects/{project_id}/proposals": "http://review",
            "/webhook/telegram": "http://ingestion",
        }
    )
    assert table.resolve(split_path("/api/projects")) == "http://ingestion"
    assert table.resolve(split_path("/api/projects/3")) == "http://ingestion"
    assert table.resolve(split_path("/api/projects/3/sources")) == "http://ingestion"
    assert table.resolve(split_path("/api/projects/3/runs")) == "http://analysis"
    assert table.resolve(split_path("/api/projects/3/runs/r/start")) == "http://analysis"
    assert table.resolve(split_path("/api/projects/3/proposals/p")) == "http://review"
    assert table.resolve(split_path("/api/projectsX")) is None
    assert table.resolve(split_path("/api/other")) is None
    assert table.resolve(split_path("/webhook/telegram")) == "http://ingestion"


def test_default_routes_cover_every_service():
    table = RouteTable(DEFAULT_ROUTES)
    owners = {
        "/api/projects/1/messages": "8001",
        "/api/projects/1/sources": "8001",
        "/api/ingestion/parked": "8001",
        "/api/projects/1/knowledge/topics": "8002",
        "/api/projects/1/extractions": "8002",
        "/api/projects/1/runs": "8003",
        "/api/projects/1/proposals": "8004",
        "/api/projects/1/tasks": "8004",
    }
    for path, port in owners.items():
        upstream = table.resolve(split_path(path))
        assert upstream is not None and upstream.endswith(port), path


def test_route_table_refuses_non_http_upstreams():
    with pytest.raises(ValueError):
        RouteTable({"/api": "ftp://nope"})


def test_public_paths():
    public = (("webhook", "telegram"),)
    assert is_public(("webhook", "telegram"), public)
    assert not is_public(("webhook",), public)
    assert not is_public(("api", "projects"), public)

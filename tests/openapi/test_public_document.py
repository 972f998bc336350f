"""The committed public OpenAPI document (`gateway/openapi.json`): current, and saying what the
gateway and the services really do — every error with the error body, bearer auth, and the
role the gateway's policy asks for on each operation."""

from __future__ import annotations

import json
import time

import pytest

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.gateway.policy import authorize
from tasktracker.gateway.public_api import public_openapi
from tasktracker.gateway.routing import split_path
from tools import public_openapi as tool

ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def built(service_apps) -> dict:
    return tool.build(service_apps)


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in tool._operations(item):
            yield path, method, operation


def test_the_committed_document_is_what_the_services_generate(built):
    assert tool.DOCUMENT.read_text() == tool.render(built), "stale: run `make openapi`"
    assert public_openapi() == json.loads(tool.render(built))


def test_check_fails_on_a_stale_file_and_passes_on_a_current_one(tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    said: list[str] = []
    assert tool.main(["--check", "--output", str(stale)], write=said.append) == 1
    assert "stale" in said[-1]
    assert tool.main(["--output", str(stale)], write=said.append) == 0
    assert tool.main(["--check", "--output", str(stale)], write=said.append) == 0


def test_every_error_answer_has_the_error_body_and_none_is_fastapis():
    document = public_openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
        assert errors, (method, path)
        for status, answer in errors.items():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)


def test_paths_are_the_gateways_and_every_service_contributes():
    document = public_openapi()
    assert {op["x-service"] for _, _, op in operations(document)} == {
        "ingestion",
        "knowledge",
        "analysis",
        "review",
    }
    assert all(path.startswith(("/api/", "/webhook/")) for path in document["paths"])
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))


def _claims(role: Role | None, *, admin: bool = False) -> Claims:
    projects = {1: role} if role is not None else {}
    return Claims(sub="doc", projects=projects, admin=admin, exp=int(time.time()) + 60)


def test_each_operations_role_is_the_one_the_gateway_enforces():
    """The documented role passes the gateway's policy and the role below it is refused (403,
    documented); a path outside a project needs the global admin flag."""
    document = public_openapi()
    assert document["security"] == [{"bearerAuth": []}]
    ranks = list(Role)
    for path, method, operation in operations(document):
        segments = split_path(path.replace("{project_id}", "1"))
        role = operation["x-required-role"]
        if role == "none":  # the webhook: its own secret, no bearer token
            assert operation["security"] == [{"telegramSecret": []}]
            continue
        assert "401" in operation["responses"], (method, path)
        if role == tool.GLOBAL_ADMIN:
            assert authorize(method, segments, _claims(Role.admin)) is not None
            assert authorize(method, segments, _claims(None, admin=True)) is None
            assert "403" in operation["responses"]
            continue
        assert authorize(method, segments, _claims(Role(role))) is None, (method, path)
        assert authorize(method, segments, _claims(None)).status == 404
        assert "404" in operation["responses"]
        below = ranks[: ranks.index(Role(role))]
        for lower in below:
            assert authorize(method, segments, _claims(lower)).status == 403, (method, path)
        assert ("403" in operation["responses"]) == bool(below), (method, path)
        assert f"**{role}**" in operation["description"]


def test_the_webhook_documents_its_body_and_secret_header():
    document = public_openapi()
    webhook = document["paths"]["/webhook/telegram"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "update_id"
    ]
    scheme = document["components"]["securitySchemes"]["telegramSecret"]
    assert scheme == {**scheme, "in": "header", "name": "X-Telegram-Bot-Api-Secret-Token"}
    assert {"400", "401", "413", "503"} <= set(webhook["responses"])

"""Each service's own OpenAPI lists the error answers it really gives (issue 17: a fuzzer found
operations answering 400/404/409 that their schemas did not list), with the one error body."""

from __future__ import annotations

import pytest

from tools import public_openapi as tool

ERROR_REF = "#/components/schemas/ErrorBody"
P = "/api/projects/{project_id}"

# What each route answers besides success, the guard's 401 and validation's 422.
ANSWERS = [
    ("analysis", "post", f"{P}/runs", {409}),
    ("analysis", "post", f"{P}/runs/{{run_id}}/start", {404, 409}),
    ("analysis", "post", f"{P}/runs/{{run_id}}/cancel", {404, 409}),
    ("analysis", "put", f"{P}/runs/{{run_id}}/close", {400, 404, 409}),
    ("analysis", "get", f"{P}/runs/{{run_id}}", {404}),
    ("ingestion", "post", "/api/ingestion/bindings", {404, 409, 503}),
    ("ingestion", "get", f"{P}/messages", {400, 404}),
    ("ingestion", "get", f"{P}/messages/{{message_id}}", {404}),
    ("ingestion", "get", P, {404}),
    ("ingestion", "patch", P, {404}),
    ("ingestion", "get", f"{P}/sources", {404}),
    ("ingestion", "post", f"{P}/sources/bind-codes", {404}),
    ("ingestion", "delete", f"{P}/sources/{{chat_id}}", {404}),
    ("ingestion", "post", "/webhook/telegram", {400, 413, 503}),
    ("ingestion", "post", f"{P}/imports", {400, 404, 409, 413, 422, 503}),
    ("ingestion", "get", f"{P}/imports/{{import_id}}", {404}),
    ("knowledge", "post", f"{P}/knowledge/extract", {409}),
    ("knowledge", "get", f"{P}/knowledge/extractions/{{extraction_id}}", {404}),
    ("knowledge", "post", f"{P}/knowledge/proposals/{{proposal_id}}/approve", {404, 409}),
    ("knowledge", "post", f"{P}/knowledge/proposals/approve", {404, 409}),
    ("knowledge", "patch", f"{P}/knowledge/proposals/{{proposal_id}}", {404, 409}),
    ("review", "get", f"{P}/proposals/{{proposal_id}}", {404}),
    ("review", "put", f"{P}/proposals/{{proposal_id}}/approve", {404, 409}),
    ("review", "put", f"{P}/proposals/merge", {404, 409}),
    ("review", "patch", f"{P}/tasks/{{task_id}}", {404, 409}),
    ("review", "get", f"{P}/tasks/{{task_id}}", {404}),
]


@pytest.fixture(scope="module")
def documents(service_apps) -> dict[str, dict]:
    return {service: app.openapi() for service, (app, _) in service_apps.items()}


@pytest.mark.parametrize(("service", "method", "path", "statuses"), ANSWERS)
def test_a_route_lists_the_errors_it_answers(documents, service, method, path, statuses):
    responses = documents[service]["paths"][path][method]["responses"]
    assert {str(s) for s in statuses} <= set(responses)
    for status in statuses:
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        assert schema == {"$ref": ERROR_REF}


def test_every_route_lists_the_guards_401_and_our_422(documents):
    for service, document in documents.items():
        assert "HTTPValidationError" not in document["components"]["schemas"], service
        for path, item in document["paths"].items():
            if path in ("/healthz", "/readyz"):
                continue
            for method, operation in tool._operations(item):
                responses = operation["responses"]
                assert "401" in responses, (service, method, path)
                if "requestBody" in operation:  # FastAPI's 400 for a body it cannot decode
                    assert "400" in responses, (service, method, path)
                if "422" in responses:
                    schema = responses["422"]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (service, method, path)

"""What a service's OpenAPI says about its error answers, declared once for every service.

Every error a service gives has one body (`contracts.errors.ErrorBody`). A route lists the
statuses it really answers with `responses=error_responses(404, 409)`; `service_app` adds the
401 of the `ActorGuard` to every route it is given, and `document_validation_errors` makes
FastAPI's automatic 422 name our error body instead of FastAPI's `HTTPValidationError` (the
services replace FastAPI's validation answer, `errors.install_error_handlers`) and lists the
400 FastAPI answers on every route with a body when the body cannot be decoded at all (not
UTF-8: "There was an error parsing the body"; a fuzzer found it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from tasktracker.contracts.errors import ErrorBody

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: input that cannot be read (a body that is not UTF-8 JSON, a malformed "
    "path) or is not acceptable",
    401: "Unauthorized: no valid credentials",
    403: "Forbidden: the caller's role does not allow this",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Gone: this way of doing it was removed",
    413: "Payload too large",
    422: "Validation error: the request does not match its schema",
    502: "Bad gateway: the service behind the gateway failed",
    503: "Unavailable: a dependency did not answer; try again",
    504: "Gateway timeout: the service behind the gateway did not answer in time",
}
ERROR_SCHEMA_NAME = ErrorBody.__name__
_ERROR_REF = f"#/components/schemas/{ERROR_SCHEMA_NAME}"
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: each status answered with the one error body."""
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def error_response_object(status: int) -> dict[str, Any]:
    """The same response as an OpenAPI object, for a document built outside FastAPI."""
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }


def document_validation_errors(app: FastAPI) -> None:
    """Wraps `app.openapi`: every 422 FastAPI documents by itself names `ErrorBody`, and every
    operation with a body lists FastAPI's 400 for one it cannot decode."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_our_422(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_our_422(schema: dict[str, Any]) -> dict[str, Any]:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            answer = operation.get("responses", {}).get("422")
            if answer is not None and _names_fastapi_422(answer):
                operation["responses"]["422"] = error_response_object(422)
            if "requestBody" in operation:
                operation["responses"].setdefault("400", error_response_object(400))
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    if ERROR_SCHEMA_NAME not in schemas:
        definition = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(definition.pop("$defs", {}))
        schemas[ERROR_SCHEMA_NAME] = definition
    return schema


def _names_fastapi_422(answer: dict[str, Any]) -> bool:
    ref = answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.endswith("/HTTPValidationError")

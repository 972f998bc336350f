"""The public OpenAPI document: the services' own schemas, merged as clients see them through
the gateway. `python -m tools.public_openapi` writes it; `--check` fails when it is stale.

Built here, outside the services, because it needs all of them: the gateway never imports a
service (import-linter), so it serves the committed document (`gateway/openapi.json`) this
script generates. What the gateway adds to every operation comes from the gateway's own
modules, not restated: which service a path goes to (`settings.DEFAULT_ROUTES`), who may call it
(`policy.required_role`), which paths need no bearer token (`public_paths`), and the errors it
answers itself (401, 403, 404 for a project the token does not name, 413, 502-504).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tasktracker.analysis.app import create_app as analysis_app
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.gateway import settings as gateway_settings
from tasktracker.gateway.policy import project_scoped, required_role
from tasktracker.gateway.routing import RouteTable, is_public, split_path
from tasktracker.ingestion.app import create_app as ingestion_app
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.knowledge.app import create_app as knowledge_app
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.review.app import create_app as review_app
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit.openapi import error_response_object

DOCUMENT = (
    Path(__file__).resolve().parent.parent
    / "services/ws-gateway/src/tasktracker/gateway/openapi.json"
)
# Only to build the apps: nothing is started, no key signs anything.
_BUILD_KEY = "openapi-build-only-" + "0" * 32
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEARER = "bearerAuth"
TELEGRAM_SECRET = "telegramSecret"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GLOBAL_ADMIN = "global-admin"

DESCRIPTION = """\
The public REST API of Task Tracker, as clients call it: every path goes through the gateway.

**Authentication.** Every call but the Telegram webhook carries a bearer JWT
(`Authorization: Bearer <token>`; claims `sub`, `projects` — `{"<project id>": "viewer" | "pm" |
"admin"}` — `admin` for a global admin, `exp`). A path under `/api/projects/{project_id}/` needs
a role in that project: `x-required-role` on each operation names the least one (viewer reads;
pm decides, runs and extracts; admin changes the project and its sources). A project the token
does not name answers 404, like one that does not exist. Other paths need the global admin
flag (`x-required-role: global-admin`).

**Errors.** Every 4xx and 5xx answer has the body `ErrorBody`:
`{"error": {"code", "message", "details"}}`.

**Live events** are not REST: `GET /ws` (WebSocket, same token) streams `space:<project_id>:<topic>`
events; see the README's WebSocket protocol.
"""


def service_apps() -> dict[str, tuple[FastAPI, str]]:
    """Each service's app and the upstream the gateway's default route table names for it."""
    common = {"internal_actor_key": _BUILD_KEY}
    return {
        "ingestion": (
            ingestion_app(IngestionSettings(webhook_secret="x" * 32, **common)),
            gateway_settings.INGESTION,
        ),
        "knowledge": (knowledge_app(KnowledgeSettings(**common)), gateway_settings.KNOWLEDGE),
        "analysis": (analysis_app(AnalysisSettings(**common)), gateway_settings.ANALYSIS),
        "review": (review_app(ReviewSettings(**common)), gateway_settings.REVIEW),
    }


def build(apps: dict[str, tuple[FastAPI, str]] | None = None) -> dict[str, Any]:
    apps = apps if apps is not None else service_apps()
    routes = RouteTable(gateway_settings.DEFAULT_ROUTES)
    public = tuple(split_path(p) for p in gateway_settings.GatewaySettings().public_paths)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    owners: dict[str, str] = {}
    docs = {service: copy.deepcopy(app.openapi()) for service, (app, _) in apps.items()}
    colliding = _colliding_schema_names(docs)
    for service, (_, upstream) in apps.items():
        own = _renamed(service, docs[service], colliding)
        for name, schema in own.get("components", {}).get("schemas", {}).items():
            schemas[name] = schema
        for path, item in own["paths"].items():
            target = routes.resolve(split_path(path))
            if target is None:
                continue  # the service's own probes: the gateway does not route them
            if target != upstream:
                raise SystemExit(f"{service} serves {path}, but the gateway sends it to {target}")
            if path in paths:
                raise SystemExit(f"{path} is served by {owners[path]} and {service}")
            owners[path] = service
            paths[path] = item
            for method, operation in _operations(item):
                _add_gateway_answers(path, method, operation, public)
                operation["x-service"] = service
    _unique_operation_ids(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Task Tracker API", "version": "1", "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                TELEGRAM_SECRET: {
                    "type": "apiKey",
                    "in": "header",
                    "name": TELEGRAM_SECRET_HEADER,
                    "description": "The secret given to Telegram's setWebhook (secret_token)",
                },
            },
        },
        "security": [{BEARER: []}],
    }


def _operations(item: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method in METHODS:
        if method in item:
            yield method, item[method]


def _add_gateway_answers(
    path: str, method: str, operation: dict[str, Any], public: tuple[tuple[str, ...], ...]
) -> None:
    segments = split_path(path)
    answers: dict[str, Any] = operation.setdefault("responses", {})
    gateway: list[int] = [502, 503, 504]
    if operation.get("requestBody") is not None:
        gateway.append(413)  # the gateway's body limit
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        gateway.append(400)  # a path the gateway refuses to interpret (`..`, encoded `/`)
    if is_public(segments, public):
        operation["security"] = [{TELEGRAM_SECRET: []}]
        operation["x-required-role"] = "none"
    else:
        gateway.append(401)
        if project_scoped(segments):
            role = required_role(method, segments[3:])
            operation["x-required-role"] = str(role)
            gateway.append(404)  # a project the token does not name
            if role != "viewer":
                gateway.append(403)
            need = f"Needs the **{role}** role in the project."
        else:
            operation["x-required-role"] = GLOBAL_ADMIN
            gateway.append(403)
            need = "Needs the **global admin** flag."
        operation["description"] = f"{need}\n\n{operation.get('description', '')}".rstrip()
    for status in sorted(gateway):
        answers.setdefault(str(status), error_response_object(status))
    operation["responses"] = dict(sorted(answers.items()))


def _colliding_schema_names(docs: dict[str, dict[str, Any]]) -> set[str]:
    """Names two services define differently (each has its own `ProposalOut`)."""
    seen: dict[str, list[Any]] = {}
    for doc in docs.values():
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            seen.setdefault(name, []).append(schema)
    return {name for name, found in seen.items() if any(f != found[0] for f in found[1:])}


def _renamed(service: str, own: dict[str, Any], colliding: set[str]) -> dict[str, Any]:
    """`own` with each colliding schema named `<Service><Name>`, references following."""
    renames = {
        name: f"{service.capitalize()}{name}"
        for name in own.get("components", {}).get("schemas", {})
        if name in colliding
    }
    if not renames:
        return own
    text = json.dumps(own)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed = json.loads(text)
    schemas = renamed["components"]["schemas"]
    for old, new in renames.items():
        schemas[new] = {**schemas.pop(old), "title": new}
    return renamed


def _unique_operation_ids(paths: dict[str, Any]) -> None:
    """A service's operation ids are its route functions' names; one two services share is
    prefixed with the service."""
    operations = [op for item in paths.values() for _, op in _operations(item)]
    counts = Counter(op["operationId"] for op in operations)
    for op in operations:
        if counts[op["operationId"]] > 1:
            op["operationId"] = f"{op['x-service']}_{op['operationId']}"
    seen = Counter(op["operationId"] for op in operations)
    duplicates = sorted(name for name, count in seen.items() if count > 1)
    if duplicates:
        raise SystemExit(f"operation ids used twice in one service: {duplicates}")


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None, write: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.public_openapi")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            write(f"{args.output} is stale: run `make openapi`")
            return 1
        write(f"{args.output} is up to date")
        return 0
    args.output.write_text(text)
    write(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

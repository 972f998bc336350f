"""Who may call what (DESIGN.md §5). Pure: a method, a path and the caller's claims in, a
refusal or None out.

viewer → reads only; pm → also decisions, runs and extractions; admin → also sources and project
settings. A project the token does not name is "not found", exactly like one that does not
exist, so ids cannot be probed. Writes to a section not listed here need admin: new endpoints
are closed until someone decides otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.contracts.errors import ErrorCode

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PM_SECTIONS = frozenset({"runs", "proposals", "extractions", "knowledge", "tasks"})
PROJECT_NOT_FOUND = "project not found"  # servicekit's not_found("project") wording


@dataclass(frozen=True)
class Refusal:
    status: int
    code: ErrorCode
    message: str


def parse_project_id(segment: str) -> int | None:
    """Only the canonical spelling: `42`, not `042`, `+42` or `٤٢`."""
    if segment.isascii() and segment.isdigit() and not segment.startswith("0"):
        return int(segment)
    return None


def required_role(method: str, section: tuple[str, ...]) -> Role:
    """The least role that may call `method` on `/api/projects/{pid}/<section...>`."""
    if method.upper() in READ_METHODS:
        return Role.viewer
    if section and section[0] in PM_SECTIONS:
        return Role.pm
    return Role.admin  # project settings (PATCH /api/projects/{pid}), sources, anything else


def project_scoped(segments: tuple[str, ...]) -> bool:
    """`/api/projects/{pid}/...`: checked against the caller's role in that project; any other
    API path needs the global admin flag."""
    return segments[:2] == ("api", "projects") and len(segments) >= 3


def authorize(method: str, segments: tuple[str, ...], claims: Claims) -> Refusal | None:
    """None if `claims` may call `method` on the API path `segments`, else why not."""
    if project_scoped(segments):
        project_id = parse_project_id(segments[2])
        role = claims.role_in(project_id) if project_id is not None else None
        if role is None:
            return Refusal(404, ErrorCode.not_found, PROJECT_NOT_FOUND)
        required = required_role(method, segments[3:])
        if not role.allows(required):
            return Refusal(
                403, ErrorCode.forbidden, f"{method.upper()} here needs the {required} role"
            )
        return None
    # Not scoped to one project: /api/projects (create, list), /api/ingestion/parked, ...
    if not claims.admin:
        return Refusal(403, ErrorCode.forbidden, "this endpoint needs the global admin flag")
    return None

"""`/api/projects/{project_id}/runs`: create, start, cancel, close, list, read. The database
decides every rule that must hold under concurrency (DESIGN.md §4)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tasktracker.analysis import lifecycle
from tasktracker.analysis.db import runs
from tasktracker.analysis.domain.lifecycle import RunStatus
from tasktracker.analysis.queue import enqueue_run
from tasktracker.analysis.schemas import ProjectId, RunCancel, RunCreate, RunOut, RunPage
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.analysis.store import OUTBOX
from tasktracker.contracts.errors import ErrorCode
from tasktracker.contracts.events import RunCreated
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Runtime, Session
from tasktracker.servicekit.errors import ApiError, conflict, not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/runs", tags=["runs"])


def _settings(request: Request) -> AnalysisSettings:
    return request.app.state.settings


@router.post("", status_code=201, responses=error_responses(409))
async def create_run(
    project_id: ProjectId, body: RunCreate, request: Request, session: Session, actor: CurrentActor
) -> RunOut:
    settings = _settings(request)
    if body.window_end - body.window_start > timedelta(days=settings.run_max_window_days):
        raise ApiError(
            422,
            ErrorCode.validation_error,
            f"the window is longer than {settings.run_max_window_days:g} days",
            {"max_window_days": settings.run_max_window_days},
        )
    try:
        row = await runs.create(
            session,
            project_id=project_id,
            start=body.window_start,
            end=body.window_end,
            created_by=actor.sub,
        )
    except runs.RunExists as exists:
        raise conflict(
            f"run {exists.run.id} of this project is still {exists.run.status}",
            {"run_id": str(exists.run.id), "status": exists.run.status},
        ) from None
    await OUTBOX.stage(
        session,
        RunCreated(
            run_id=row.id,
            window_start=row.window_start,
            window_end=row.window_end,
            created_by=row.created_by,
        ),
        project_id=project_id,
    )
    return RunOut.of(row)


@router.post("/{run_id}/start", status_code=202, responses=error_responses(404, 409))
async def start_run(
    project_id: ProjectId,
    run_id: uuid.UUID,
    request: Request,
    session: Session,
    runtime: Runtime,
    actor: CurrentActor,
) -> RunOut:
    """Only from pending, once. The job is queued before the commit: if the kick fails the
    request is rolled back; if the commit fails the job finds no start request and stops."""
    row = await runs.request_start(session, project_id, run_id, actor.sub)
    if row is None:
        raise not_found("run")
    assert runtime.job_broker is not None
    await enqueue_run(runtime.job_broker, run_id, _settings(request).run_max_tries)
    return RunOut.of(row)


@router.post("/{run_id}/cancel", responses=error_responses(404, 409))
async def cancel_run(
    project_id: ProjectId,
    run_id: uuid.UUID,
    session: Session,
    actor: CurrentActor,
    body: RunCancel | None = None,
) -> RunOut:
    reason = body.reason if body is not None else None
    row = await lifecycle.cancel(session, project_id, run_id, actor.sub, reason)
    if row is None:
        raise not_found("run")
    return RunOut.of(row)


@router.put("/{run_id}/close", responses=error_responses(400, 404, 409))
async def close_run(
    project_id: ProjectId, run_id: uuid.UUID, session: Session, actor: CurrentActor
) -> RunOut:
    try:
        row = await lifecycle.close(session, project_id, run_id, actor.sub)
    except lifecycle.ProposalsPending as pending:
        raise ApiError(
            400,
            ErrorCode.bad_request,
            f"the run cannot be closed while {pending.pending} proposals are pending",
            {"pending": pending.pending},
        ) from None
    if row is None:
        raise not_found("run")
    return RunOut.of(row)


@router.get("")
async def list_runs(
    project_id: ProjectId,
    session: Session,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> RunPage:
    before = _decode_cursor(cursor) if cursor else None
    rows = await runs.list_for_project(
        session, project_id, status=status, limit=limit + 1, before=before
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return RunPage(items=[RunOut.of(r) for r in page], next_cursor=next_cursor)


@router.get("/{run_id}", responses=error_responses(404))
async def get_run(project_id: ProjectId, run_id: uuid.UUID, session: Session) -> RunOut:
    row = await runs.get(session, project_id, run_id)
    if row is None:
        raise not_found("run")
    return RunOut.of(row)


def _encode_cursor(created_at: datetime, run_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, run_id = raw.split("|")
        return datetime.fromisoformat(created), uuid.UUID(run_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, ErrorCode.validation_error, "cursor is invalid") from None

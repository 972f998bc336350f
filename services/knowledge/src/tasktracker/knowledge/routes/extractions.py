"""Extraction requests (202 and the job) and their status."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tasktracker.contracts.errors import ErrorCode
from tasktracker.knowledge.db import extractions, messages
from tasktracker.knowledge.queue import enqueue_extraction
from tasktracker.knowledge.schemas import Accepted, ExtractionOut, ExtractRequest, MessageId
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Runtime, Session
from tasktracker.servicekit.errors import ApiError, conflict, not_found
from tasktracker.servicekit.openapi import error_responses

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/projects/{project_id}/knowledge", tags=["knowledge"])

ONE_MICROSECOND = timedelta(microseconds=1)


def _invalid(message: str, details: object = None) -> ApiError:
    return ApiError(422, ErrorCode.validation_error, message, details)


@router.post("/extract", status_code=202, responses=error_responses(409))
async def extract(
    project_id: MessageId,
    body: ExtractRequest,
    request: Request,
    runtime: Runtime,
    actor: CurrentActor,
) -> Accepted:
    settings: KnowledgeSettings = request.app.state.settings
    async with db.transaction(runtime.sessions) as session:
        if body.message_ids is not None:
            ids = list(dict.fromkeys(body.message_ids))
            if len(ids) > settings.extraction_max_message_ids:
                raise _invalid(
                    f"at most {settings.extraction_max_message_ids} message ids",
                    {"count": len(ids)},
                )
            found = await messages.ordered(session, project_id, ids)
            unknown = sorted(set(ids) - {m.id for m in found})
            if unknown:
                raise _invalid("message ids not in this project", {"unknown_ids": unknown[:100]})
            start, end = found[0].sent_at, found[-1].sent_at + ONE_MICROSECOND
        else:
            assert body.since is not None and body.until is not None
            start, end, ids = body.since, body.until, None
            limit = timedelta(days=settings.extraction_max_window_days)
            if end - start > limit:
                raise _invalid(
                    f"the window is longer than {settings.extraction_max_window_days:g} days",
                    {"max_window_days": settings.extraction_max_window_days},
                )
        running = await extractions.overlapping(session, project_id, start, end)
        if running is not None:
            raise conflict(
                f"extraction {running.id} is still {running.status} over an overlapping window",
                {"extraction_id": str(running.id)},
            )
        row = await extractions.create(
            session,
            project_id=project_id,
            start=start,
            end=end,
            requested_ids=ids,
            chunk_size=settings.extraction_chunk_size,
            requested_by=actor.sub,
        )
    assert runtime.job_broker is not None
    try:
        await enqueue_extraction(runtime.job_broker, row.id, settings.extraction_max_tries)
    except Exception as error:
        # The extraction is saved: the worker's sweeper kicks pending extractions again
        # (queue.py), so the request stands and starts once the queue answers.
        log.warning("extraction %s saved but not queued (%r); the sweeper will", row.id, error)
    return Accepted(extraction_id=row.id)


@router.get("/extractions")
async def list_extractions(
    project_id: MessageId,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ExtractionOut]:
    rows = await extractions.list_for_project(session, project_id, limit)
    return [ExtractionOut.model_validate(row) for row in rows]


@router.get("/extractions/{extraction_id}", responses=error_responses(404))
async def get_extraction(
    project_id: MessageId, extraction_id: uuid.UUID, session: Session
) -> ExtractionOut:
    row = await extractions.get(session, project_id, extraction_id)
    if row is None:
        raise not_found("extraction")
    return ExtractionOut.model_validate(row)

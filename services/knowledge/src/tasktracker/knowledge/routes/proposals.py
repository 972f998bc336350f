"""Review of proposals: list, edit, approve, reject, one at a time or all-or-nothing in bulk."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select, tuple_

from tasktracker.contracts.errors import ErrorCode
from tasktracker.knowledge import review
from tasktracker.knowledge.db.models import ProposalRow
from tasktracker.knowledge.schemas import (
    BulkDecision,
    MessageId,
    ProposalEdit,
    ProposalOut,
    ProposalPage,
    Rejection,
)
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import ApiError
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/knowledge/proposals", tags=["knowledge"])

Status = Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")]
MAX_PAGE = 500


@router.get("")
async def list_proposals(
    project_id: MessageId,
    session: Session,
    status: Status = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    extraction_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> ProposalPage:
    stmt = select(ProposalRow).where(ProposalRow.project_id == project_id)
    if status is not None:
        stmt = stmt.where(ProposalRow.status == status)
    if kind is not None:
        stmt = stmt.where(ProposalRow.kind == kind)
    if extraction_id is not None:
        stmt = stmt.where(ProposalRow.extraction_id == extraction_id)
    if cursor is not None:
        stmt = stmt.where(tuple_(ProposalRow.created_at, ProposalRow.id) > _decode(cursor))
    stmt = stmt.order_by(ProposalRow.created_at, ProposalRow.id).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(rows[-1]) if more else None
    return ProposalPage(
        items=[ProposalOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.patch("/{proposal_id}", responses=error_responses(404, 409))
async def edit_proposal(
    project_id: MessageId, proposal_id: uuid.UUID, body: ProposalEdit, session: Session
) -> ProposalOut:
    [row] = await review.lock_proposals(session, project_id, [proposal_id])
    await review.edit(session, row, body)
    await session.flush()
    return ProposalOut.model_validate(row)


@router.post("/{proposal_id}/approve", responses=error_responses(404, 409))
async def approve_proposal(
    project_id: MessageId, proposal_id: uuid.UUID, session: Session, actor: CurrentActor
) -> ProposalOut:
    [row] = await review.lock_proposals(session, project_id, [proposal_id])
    await review.approve(session, [row], actor.sub)
    return ProposalOut.model_validate(row)


@router.post("/{proposal_id}/reject", responses=error_responses(404, 409))
async def reject_proposal(
    project_id: MessageId,
    proposal_id: uuid.UUID,
    body: Rejection,
    session: Session,
    actor: CurrentActor,
) -> ProposalOut:
    [row] = await review.lock_proposals(session, project_id, [proposal_id])
    await review.reject(session, [row], body.reason, actor.sub)
    return ProposalOut.model_validate(row)


@router.post("/approve", responses=error_responses(404, 409))
async def approve_many(
    project_id: MessageId, body: BulkDecision, session: Session, actor: CurrentActor
) -> list[ProposalOut]:
    """All or nothing: one proposal missing (404) or decided (409) changes none."""
    rows = await review.lock_proposals(session, project_id, body.ids)
    await review.approve(session, rows, actor.sub)
    return [ProposalOut.model_validate(row) for row in rows]


@router.post("/reject", responses=error_responses(404, 409))
async def reject_many(
    project_id: MessageId, body: BulkDecision, session: Session, actor: CurrentActor
) -> list[ProposalOut]:
    if body.reason is None:
        raise ApiError(422, ErrorCode.validation_error, "a rejection needs a reason")
    rows = await review.lock_proposals(session, project_id, body.ids)
    await review.reject(session, rows, body.reason, actor.sub)
    return [ProposalOut.model_validate(row) for row in rows]


def _encode(row: ProposalRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, proposal_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), uuid.UUID(proposal_id)
    except (ValueError, TypeError) as exc:
        raise ApiError(422, ErrorCode.validation_error, "invalid cursor") from exc

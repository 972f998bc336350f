"""Proposals: list, read (with source texts), edit, and decide one by one or in bulk."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.states import ProposalStatus
from tasktracker.review import decisions, edits
from tasktracker.review.db import messages
from tasktracker.review.db.models import ProposalRow
from tasktracker.review.deps import CurrentActor
from tasktracker.review.domain.decisions import Decision
from tasktracker.review.routes.paging import (
    MAX_PAGE,
    ProjectId,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from tasktracker.review.schemas import (
    BulkApprove,
    BulkMerge,
    BulkReject,
    MergeInto,
    ProposalDetail,
    ProposalEdit,
    ProposalOut,
    ProposalPage,
    Rejection,
    SourceMessage,
)
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/proposals", tags=["proposals"])


class Sort(StrEnum):
    created = "created"
    newest = "-created"
    confidence = "confidence"
    most_confident = "-confidence"


@router.get("")
async def list_proposals(
    project_id: ProjectId,
    session: Session,
    run_id: uuid.UUID | None = None,
    status: ProposalStatus | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    sort: Sort = Sort.created,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> ProposalPage:
    stmt = select(ProposalRow).where(ProposalRow.project_id == project_id)
    if run_id is not None:
        stmt = stmt.where(ProposalRow.run_id == run_id)
    if status is not None:
        stmt = stmt.where(ProposalRow.status == str(status))
    if min_confidence is not None:
        stmt = stmt.where(ProposalRow.confidence >= min_confidence)
    rows = list((await session.execute(_page(stmt, sort, cursor, limit))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = await _with_suggestions(session, rows)
    next_cursor = encode_cursor(_key(rows[-1], sort)) if more else None
    return ProposalPage(items=items, next_cursor=next_cursor)


@router.get("/{proposal_id}", responses=error_responses(404))
async def get_proposal(
    project_id: ProjectId, proposal_id: uuid.UUID, session: Session
) -> ProposalDetail:
    row = await session.get(ProposalRow, proposal_id)
    if row is None or row.project_id != project_id:
        raise not_found("proposal")
    return await _detail(session, row)


@router.patch("/{proposal_id}", responses=error_responses(404, 409))
async def edit_proposal(
    project_id: ProjectId,
    proposal_id: uuid.UUID,
    body: ProposalEdit,
    session: Session,
    actor: CurrentActor,
) -> ProposalDetail:
    row = await edits.edit_proposal(session, project_id, proposal_id, body, actor)
    return await _detail(session, row)


@router.put("/{proposal_id}/approve", responses=error_responses(404, 409))
async def approve(
    project_id: ProjectId, proposal_id: uuid.UUID, session: Session, actor: CurrentActor
) -> ProposalOut:
    row = await decisions.decide_one(session, project_id, proposal_id, Decision.approve, actor)
    return ProposalOut.model_validate(row)


@router.put("/{proposal_id}/reject", responses=error_responses(404, 409))
async def reject(
    project_id: ProjectId,
    proposal_id: uuid.UUID,
    body: Rejection,
    session: Session,
    actor: CurrentActor,
) -> ProposalOut:
    row = await decisions.decide_one(
        session, project_id, proposal_id, Decision.reject, actor, reason=body.reason
    )
    return ProposalOut.model_validate(row)


@router.put("/{proposal_id}/merge", responses=error_responses(404, 409))
async def merge(
    project_id: ProjectId,
    proposal_id: uuid.UUID,
    body: MergeInto,
    session: Session,
    actor: CurrentActor,
) -> ProposalOut:
    row = await decisions.decide_one(
        session, project_id, proposal_id, Decision.merge, actor, task_id=body.task_id
    )
    return ProposalOut.model_validate(row)


@router.put("/approve", responses=error_responses(404, 409))
async def approve_many(
    project_id: ProjectId, body: BulkApprove, session: Session, actor: CurrentActor
) -> list[ProposalOut]:
    """All or nothing: one proposal missing (404), decided or closed (409) changes none."""
    rows = await decisions.decide_many(session, project_id, body.ids, Decision.approve, actor)
    return [ProposalOut.model_validate(row) for row in rows]


@router.put("/reject", responses=error_responses(404, 409))
async def reject_many(
    project_id: ProjectId, body: BulkReject, session: Session, actor: CurrentActor
) -> list[ProposalOut]:
    rows = await decisions.decide_many(
        session, project_id, body.ids, Decision.reject, actor, reason=body.reason
    )
    return [ProposalOut.model_validate(row) for row in rows]


@router.put("/merge", responses=error_responses(404, 409))
async def merge_many(
    project_id: ProjectId, body: BulkMerge, session: Session, actor: CurrentActor
) -> list[ProposalOut]:
    rows = await decisions.decide_many(
        session, project_id, body.ids, Decision.merge, actor, task_id=body.task_id
    )
    return [ProposalOut.model_validate(row) for row in rows]


_SORT_COLUMNS = {
    Sort.created: (ProposalRow.created_at, False),
    Sort.newest: (ProposalRow.created_at, True),
    Sort.confidence: (ProposalRow.confidence, False),
    Sort.most_confident: (ProposalRow.confidence, True),
}


def _page(stmt: Select, sort: Sort, cursor: str | None, limit: int) -> Select:
    column, descending = _SORT_COLUMNS[sort]
    key = tuple_(column, ProposalRow.id)
    if cursor is not None:
        value, last_id = decode_cursor(cursor, 2)
        try:
            after = (
                datetime.fromisoformat(value) if column is ProposalRow.created_at else float(value),
                uuid.UUID(last_id),
            )
        except (TypeError, ValueError) as exc:
            raise invalid_cursor() from exc
        stmt = stmt.where(key < after if descending else key > after)
    order = (column.desc(), ProposalRow.id.desc()) if descending else (column, ProposalRow.id)
    return stmt.order_by(*order).limit(limit + 1)


def _key(row: ProposalRow, sort: Sort) -> list[str | float]:
    column, _ = _SORT_COLUMNS[sort]
    value = row.created_at.isoformat() if column is ProposalRow.created_at else row.confidence
    return [value, str(row.id)]


async def _with_suggestions(session: AsyncSession, rows: list[ProposalRow]) -> list[ProposalOut]:
    """`suggested_task_id`: the similar open task, else the task the similar earlier proposal
    of the run became (approved) or went into (merged)."""
    twins = {row.similar_proposal_id for row in rows if row.similar_task_id is None} - {None}
    task_of: dict[uuid.UUID | None, int] = {}
    if twins:
        found = await session.execute(
            select(ProposalRow.id, ProposalRow.task_id).where(
                ProposalRow.id.in_(list(twins)), ProposalRow.task_id.is_not(None)
            )
        )
        task_of = {twin: task for twin, task in found.all()}
    return [
        ProposalOut.model_validate(row).model_copy(
            update={
                "suggested_task_id": row.similar_task_id or task_of.get(row.similar_proposal_id)
            }
        )
        for row in rows
    ]


async def _detail(session: AsyncSession, row: ProposalRow) -> ProposalDetail:
    [out] = await _with_suggestions(session, [row])
    texts = await messages.of_project(session, row.project_id, row.source_message_ids)
    return ProposalDetail(
        **out.model_dump(), source_messages=[SourceMessage.model_validate(m) for m in texts]
    )

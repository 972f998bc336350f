"""Tasks: list, read (source texts, linked proposals), change (each change an event)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import TaskStatus
from tasktracker.review import edits
from tasktracker.review.db import messages
from tasktracker.review.db.models import ProposalRow, TaskRow
from tasktracker.review.deps import CurrentActor
from tasktracker.review.routes.paging import (
    MAX_PAGE,
    ProjectId,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from tasktracker.review.schemas import (
    LinkedProposal,
    SourceMessage,
    TaskDetail,
    TaskEdit,
    TaskOut,
    TaskPage,
)
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(gt=0, le=2**63 - 1)]


@router.get("")
async def list_tasks(
    project_id: ProjectId,
    session: Session,
    status: TaskStatus | None = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> TaskPage:
    stmt = select(TaskRow).where(TaskRow.project_id == project_id)
    if status is not None:
        stmt = stmt.where(TaskRow.status == str(status))
    if assignee is not None:
        stmt = stmt.where(TaskRow.assignee == assignee)
    if cursor is not None:
        [last_id] = decode_cursor(cursor, 1)
        if not isinstance(last_id, int):
            raise invalid_cursor()
        stmt = stmt.where(TaskRow.id > last_id)
    rows = list((await session.execute(stmt.order_by(TaskRow.id).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return TaskPage(
        items=[TaskOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more else None,
    )


@router.get("/{task_id}", responses=error_responses(404))
async def get_task(project_id: ProjectId, task_id: TaskId, session: Session) -> TaskDetail:
    task = await session.get(TaskRow, task_id)
    if task is None or task.project_id != project_id:
        raise not_found("task")
    return await _detail(session, task)


@router.patch("/{task_id}", responses=error_responses(404, 409))
async def change_task(
    project_id: ProjectId,
    task_id: TaskId,
    body: TaskEdit,
    session: Session,
    actor: CurrentActor,
) -> TaskDetail:
    task = await edits.change_task(session, project_id, task_id, body, actor)
    return await _detail(session, task)


async def _detail(session: AsyncSession, task: TaskRow) -> TaskDetail:
    texts = await messages.of_project(session, task.project_id, task.source_message_ids)
    linked = await session.execute(
        select(ProposalRow)
        .where(ProposalRow.task_id == task.id)
        .order_by(ProposalRow.decided_at, ProposalRow.id)
    )
    return TaskDetail(
        **TaskOut.model_validate(task).model_dump(),
        source_messages=[SourceMessage.model_validate(m) for m in texts],
        proposals=[LinkedProposal.model_validate(p) for p in linked.scalars()],
    )

"""Edits of a pending proposal and changes of a task, each with its event in the same
transaction. Only what really changes is written and reported; an edit that changes nothing
is answered with the unchanged row and no event."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import ProposalUpdated, TaskUpdated
from tasktracker.review.db.models import ProposalRow, RunRow, TaskRow
from tasktracker.review.domain.decisions import check_editable
from tasktracker.review.domain.tasks import task_transition
from tasktracker.review.schemas import ProposalEdit, TaskEdit
from tasktracker.review.store import OUTBOX
from tasktracker.servicekit.errors import not_found


async def edit_proposal(
    session: AsyncSession, project_id: int, proposal_id: uuid.UUID, edit: ProposalEdit, actor: str
) -> ProposalRow:
    row = (
        await session.execute(
            select(ProposalRow)
            .where(ProposalRow.id == proposal_id, ProposalRow.project_id == project_id)
            .with_for_update()
        )
    ).scalar()
    if row is None:
        raise not_found("proposal")
    # FOR SHARE: a close waits for this edit, and this edit sees a close committed before it
    closed_at = (
        await session.execute(
            select(RunRow.closed_at).where(RunRow.id == row.run_id).with_for_update(read=True)
        )
    ).scalar()
    check_editable(row.status, run_closed=closed_at is not None)
    changes = _apply(row, edit.model_dump(exclude_unset=True))
    if changes:
        row.edited = True
        row.updated_at = func.now()
        await OUTBOX.stage(
            session,
            ProposalUpdated(
                proposal_id=row.id, run_id=row.run_id, updated_by=actor, changes=changes
            ),
            project_id=project_id,
        )
        await session.flush()
        await session.refresh(row)
    return row


async def change_task(
    session: AsyncSession, project_id: int, task_id: int, edit: TaskEdit, actor: str
) -> TaskRow:
    task = (
        await session.execute(
            select(TaskRow)
            .where(TaskRow.id == task_id, TaskRow.project_id == project_id)
            .with_for_update()
        )
    ).scalar()
    if task is None:
        raise not_found("task")
    fields = edit.model_dump(exclude_unset=True)
    if "status" in fields:
        fields["status"] = str(task_transition(task.status, fields["status"]))
    changes = _apply(task, fields)
    if changes:
        task.updated_at = func.now()
        await OUTBOX.stage(
            session,
            TaskUpdated(task_id=task.id, updated_by=actor, changes=changes),
            project_id=project_id,
        )
        await session.flush()
        await session.refresh(task)
    return task


def _apply(row: Any, fields: dict[str, Any]) -> dict[str, Any]:
    changes = {}
    for name, value in fields.items():
        stored = str(value) if hasattr(value, "value") else value  # enums as their values
        if getattr(row, name) != stored:
            setattr(row, name, stored)
            changes[name] = to_jsonable_python(stored)
    return changes

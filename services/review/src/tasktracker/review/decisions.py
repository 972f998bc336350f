"""A reviewer's decisions on proposals: each one transaction of a conditional update from
`pending`, the run's tally change and the outbox event(s).

The database decides who wins: the `UPDATE … WHERE status = 'pending'` of two concurrent
requests lets one through and leaves the other nothing to update (409). The tally update is
guarded by `closed_at IS NULL`, so a decision racing the run's close either lands before it or
is refused. Lock order, for every writer: proposals (id order), then tasks, then the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import (
    ProposalApproved,
    ProposalMerged,
    ProposalRejected,
    RunCounters,
    TaskCreated,
    TaskRecord,
    TaskUpdated,
)
from tasktracker.review.db.models import ProposalRow, RunRow, TaskRow
from tasktracker.review.domain.decisions import RUN_CLOSED, TARGET, Decision, decide
from tasktracker.review.domain.decisions import tally_change as tally_deltas
from tasktracker.review.domain.merging import merged_sources
from tasktracker.review.store import OUTBOX
from tasktracker.servicekit.errors import conflict, not_found

COUNTERS = (RunRow.total, RunRow.pending, RunRow.approved, RunRow.rejected, RunRow.merged)


async def decide_one(
    session: AsyncSession,
    project_id: int,
    proposal_id: uuid.UUID,
    decision: Decision,
    actor: str,
    *,
    reason: str | None = None,
    task_id: int | None = None,
) -> ProposalRow:
    target = TARGET[decision]
    values: dict[str, object] = {
        "status": str(target),
        "decided_by": actor,
        "decided_at": func.now(),
        "updated_at": func.now(),
    }
    if reason is not None:
        values["reason"] = reason
    stmt = (
        update(ProposalRow)
        .where(
            ProposalRow.id == proposal_id,
            ProposalRow.project_id == project_id,
            ProposalRow.status == "pending",
        )
        .values(values)
        .returning(ProposalRow)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    row = (await session.execute(stmt)).scalar()
    if row is None:
        await _refuse(session, project_id, proposal_id, decision)
        raise AssertionError("unreachable")
    if decision is Decision.approve:
        await _create_task(session, row, actor)
    elif decision is Decision.merge:
        assert task_id is not None
        await _merge_into(session, row, task_id, actor)
    counters = await _count(session, row)
    await OUTBOX.stage(
        session, _decided_event(row, decision, actor, counters), project_id=project_id
    )
    return row


async def decide_many(
    session: AsyncSession,
    project_id: int,
    ids: Sequence[uuid.UUID],
    decision: Decision,
    actor: str,
    *,
    reason: str | None = None,
    task_id: int | None = None,
) -> list[ProposalRow]:
    """All or nothing: every proposal is locked and checked first (404 naming the missing,
    409 naming the decided or closed), then each is decided as `decide_one` does."""
    wanted = sorted(set(ids))
    stmt = (
        select(ProposalRow.id, ProposalRow.status, RunRow.closed_at)
        .join(RunRow, RunRow.id == ProposalRow.run_id)
        .where(ProposalRow.project_id == project_id, ProposalRow.id.in_(wanted))
        .order_by(ProposalRow.id)
        .with_for_update(of=ProposalRow)
    )
    found = {row.id: row for row in await session.execute(stmt)}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        error = not_found("proposal")
        error.details = {"ids": missing}
        raise error
    refused = [
        {"id": str(i), "status": row.status, "run_closed": row.closed_at is not None}
        for i, row in found.items()
        if row.status != "pending" or row.closed_at is not None
    ]
    if refused:
        raise conflict("some proposals cannot be decided; none was", {"refused": refused})
    decided = {}
    for proposal_id in wanted:
        decided[proposal_id] = await decide_one(
            session, project_id, proposal_id, decision, actor, reason=reason, task_id=task_id
        )
    return [decided[i] for i in dict.fromkeys(ids)]


async def _refuse(
    session: AsyncSession, project_id: int, proposal_id: uuid.UUID, decision: Decision
) -> None:
    """Why nothing was updated: 404 (not this project's), 409 (closed run, decided)."""
    stmt = (
        select(ProposalRow.status, RunRow.closed_at)
        .join(RunRow, RunRow.id == ProposalRow.run_id)
        .where(ProposalRow.id == proposal_id, ProposalRow.project_id == project_id)
    )
    found = (await session.execute(stmt)).first()
    if found is None:
        raise not_found("proposal")
    if found.closed_at is not None:
        raise conflict(RUN_CLOSED, {"id": str(proposal_id)})
    decide(found.status, decision)  # raises InvalidTransition: a 409 naming both states
    raise conflict("proposal changed meanwhile", {"id": str(proposal_id)})


async def _create_task(session: AsyncSession, row: ProposalRow, actor: str) -> TaskRow:
    task = TaskRow(
        project_id=row.project_id,
        title=row.title,
        description=row.description,
        priority=row.priority,
        category=row.category,
        tags=list(row.tags),
        assignee=row.assignee,
        due_date=row.due_date,
        status="open",
        source_message_ids=list(row.source_message_ids),
        proposal_id=row.id,
        created_by=actor,
    )
    session.add(task)
    await session.flush()
    row.task_id = task.id
    await OUTBOX.stage(
        session, TaskCreated(task=task_record(task), created_by=actor), project_id=row.project_id
    )
    return task


async def _merge_into(session: AsyncSession, row: ProposalRow, task_id: int, actor: str) -> None:
    # another project's task is "not found", exactly like a missing one
    stmt = (
        select(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.project_id == row.project_id)
        .with_for_update()
    )
    task = (await session.execute(stmt)).scalar()
    if task is None:
        raise not_found("task")
    sources = merged_sources(task.source_message_ids, row.source_message_ids)
    if sources != task.source_message_ids:
        task.source_message_ids = sources
    task.updated_at = func.now()
    row.task_id = task.id
    await OUTBOX.stage(
        session,
        TaskUpdated(
            task_id=task.id,
            updated_by=actor,
            changes={"source_message_ids": sources, "merged_proposal_id": str(row.id)},
        ),
        project_id=row.project_id,
    )


async def _count(session: AsyncSession, row: ProposalRow) -> RunCounters:
    deltas = tally_deltas(TARGET_BY_STATUS[row.status])
    stmt = (
        update(RunRow)
        .where(RunRow.id == row.run_id, RunRow.closed_at.is_(None))
        .values({column: getattr(RunRow, column) + delta for column, delta in deltas.items()})
        .returning(*COUNTERS)
    )
    counted = (await session.execute(stmt)).first()
    if counted is None:
        raise conflict(RUN_CLOSED, {"id": str(row.id)})
    return RunCounters(**counted._asdict())


TARGET_BY_STATUS = {str(status): status for status in TARGET.values()}


def _decided_event(row: ProposalRow, decision: Decision, actor: str, counters: RunCounters):
    common = {"proposal_id": row.id, "run_id": row.run_id, "decided_by": actor}
    if decision is Decision.approve:
        return ProposalApproved(**common, edited=row.edited, task_id=row.task_id, counters=counters)
    if decision is Decision.reject:
        return ProposalRejected(**common, reason=row.reason, counters=counters)
    return ProposalMerged(**common, task_id=row.task_id, counters=counters)


def task_record(task: TaskRow) -> TaskRecord:
    return TaskRecord(
        id=task.id,
        title=task.title,
        description=task.description,
        priority=task.priority,
        category=task.category,
        tags=list(task.tags),
        assignee=task.assignee,
        due_date=task.due_date,
        status=task.status,
        source_message_ids=list(task.source_message_ids),
        proposal_id=task.proposal_id,
    )


WITHDRAWN_BY = "analysis"


async def withdraw(
    session: AsyncSession, project_id: int, proposal_id: uuid.UUID, message_ids: Sequence[int]
) -> bool:
    """Analysis withdrew a proposal (a later batch of its run called the work off): a pending
    one is rejected by `analysis`, with the messages as the reason and `rejected` emitted as
    for a reviewer's rejection. A proposal decided meanwhile, of a closed run, or unknown is
    left as it is (a decision stands; a redelivered event changes nothing): False."""
    stmt = (
        select(ProposalRow.status, RunRow.closed_at)
        .join(RunRow, RunRow.id == ProposalRow.run_id)
        .where(ProposalRow.id == proposal_id, ProposalRow.project_id == project_id)
        .with_for_update(of=ProposalRow)
    )
    found = (await session.execute(stmt)).first()
    if found is None or found.status != "pending" or found.closed_at is not None:
        return False
    ids = ", ".join(str(i) for i in message_ids)
    await decide_one(
        session,
        project_id,
        proposal_id,
        Decision.reject,
        WITHDRAWN_BY,
        reason=f"withdrawn by analysis: called off in message(s) {ids}",
    )
    return True

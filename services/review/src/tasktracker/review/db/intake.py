"""Storing analysis's facts: proposals of a batch (idempotent by proposal id) and run closes.

A redelivered `proposals_created` inserts nothing (`ON CONFLICT (id) DO NOTHING`) and the
run's tally grows only by the rows really inserted (`RETURNING`), so at-least-once delivery
never doubles a proposal or a count — also with two consumers storing the same event at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import RunClosed, TaskProposalData, TaskProposalsCreated
from tasktracker.review.db.models import ProposalRow, RunRow, TaskRow
from tasktracker.review.domain.similarity import Match, Text, best_matches


@dataclass(frozen=True)
class Similarity:
    threshold: float
    max_tasks: int


async def store_proposals(
    session: AsyncSession,
    events: Sequence[tuple[int, TaskProposalsCreated]],
    similarity: Similarity,
) -> int:
    """`(project_id, event)` pairs in one transaction; how many proposals were new."""
    runs = {event.run_id: project_id for project_id, event in events}
    if not runs:
        return 0
    await session.execute(
        insert(RunRow)
        .values([{"id": run_id, "project_id": pid} for run_id, pid in sorted(runs.items())])
        .on_conflict_do_nothing(index_elements=[RunRow.id])
    )
    rows: list[dict[str, object]] = []
    for project_id, project_events in _by_project(events).items():
        rows += await _rows(session, project_id, project_events, similarity)
    if not rows:
        return 0
    inserted = await session.execute(
        insert(ProposalRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[ProposalRow.id])
        .returning(ProposalRow.run_id)
    )
    new_by_run: dict[uuid.UUID, int] = defaultdict(int)
    for (run_id,) in inserted.all():
        new_by_run[run_id] += 1
    for run_id in sorted(new_by_run):  # one lock order for every writer of `runs`
        count = new_by_run[run_id]
        await session.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(total=RunRow.total + count, pending=RunRow.pending + count)
        )
    return sum(new_by_run.values())


async def close_runs(session: AsyncSession, events: Sequence[tuple[int, RunClosed]]) -> None:
    """Mark runs closed (a run review never saw a proposal of is recorded closed)."""
    values = sorted({e.run_id: pid for pid, e in events}.items())
    if not values:
        return
    stmt = insert(RunRow).values(
        [{"id": run_id, "project_id": pid, "closed_at": func.now()} for run_id, pid in values]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[RunRow.id],
        set_={"closed_at": stmt.excluded.closed_at},
        where=RunRow.closed_at.is_(None),
    )
    await session.execute(stmt)


def _by_project(
    events: Sequence[tuple[int, TaskProposalsCreated]],
) -> dict[int, list[TaskProposalsCreated]]:
    grouped: dict[int, list[TaskProposalsCreated]] = defaultdict(list)
    for project_id, event in events:
        grouped[project_id].append(event)
    return grouped


async def _rows(
    session: AsyncSession,
    project_id: int,
    events: Sequence[TaskProposalsCreated],
    similarity: Similarity,
) -> list[dict[str, object]]:
    incoming = list({p.proposal_id: (e.run_id, p) for e in events for p in e.proposals}.items())
    if not incoming:
        return []
    stored = set(
        (
            await session.execute(
                select(ProposalRow.id).where(ProposalRow.id.in_([pid for pid, _ in incoming]))
            )
        ).scalars()
    )
    fresh = [(pid, run_id, p) for pid, (run_id, p) in incoming if pid not in stored]
    if not fresh:
        return []
    tasks = await _open_tasks(session, project_id, similarity.max_tasks)
    earlier = await _pending_of_runs(session, {run_id for _, run_id, _ in fresh})
    queries = [Text(p.title, p.description) for _, _, p in fresh]
    task_matches = await asyncio.to_thread(best_matches, queries, tasks, similarity.threshold)
    rows = []
    for (pid, run_id, proposal), task_match in zip(fresh, task_matches, strict=True):
        # duplicates inside one run: an earlier proposal of the run (stored, or ahead in this
        # batch) that the reviewer will approve, then merge this one into its task
        candidates = earlier[run_id]
        [proposal_match] = best_matches(
            [Text(proposal.title, proposal.description)], candidates, similarity.threshold
        )
        rows.append(_row(project_id, run_id, proposal, task_match, proposal_match))
        candidates.append((pid, Text(proposal.title, proposal.description)))
    return rows


def _row(
    project_id: int,
    run_id: uuid.UUID,
    p: TaskProposalData,
    task_match: Match[int] | None,
    proposal_match: Match[uuid.UUID] | None,
) -> dict[str, object]:
    return {
        "id": p.proposal_id,
        "project_id": project_id,
        "run_id": run_id,
        "batch_index": p.batch_index,
        "title": p.title,
        "description": p.description,
        "priority": str(p.priority),
        "category": str(p.category),
        "tags": list(p.tags),
        "assignee": p.assignee,
        "due_date": p.due_date,
        "confidence": p.confidence,
        "reasoning": p.reasoning,
        "source_message_ids": list(p.source_message_ids),
        "similar_task_id": task_match.key if task_match else None,
        "similar_task_score": task_match.score if task_match else None,
        "similar_proposal_id": proposal_match.key if proposal_match else None,
        "similar_proposal_score": proposal_match.score if proposal_match else None,
    }


async def _open_tasks(session: AsyncSession, project_id: int, limit: int) -> list[tuple[int, Text]]:
    stmt = (
        select(TaskRow.id, TaskRow.title, TaskRow.description)
        .where(TaskRow.project_id == project_id, TaskRow.status != "done")
        .order_by(TaskRow.id.desc())
        .limit(limit)
    )
    return [(row.id, Text(row.title, row.description)) for row in await session.execute(stmt)]


async def _pending_of_runs(
    session: AsyncSession, run_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, Text]]]:
    found: dict[uuid.UUID, list[tuple[uuid.UUID, Text]]] = defaultdict(list)
    stmt = (
        select(ProposalRow.id, ProposalRow.run_id, ProposalRow.title, ProposalRow.description)
        .where(ProposalRow.run_id.in_(list(run_ids)), ProposalRow.status == "pending")
        .order_by(ProposalRow.created_at, ProposalRow.id)
    )
    for row in await session.execute(stmt):
        found[row.run_id].append((row.id, Text(row.title, row.description)))
    return found

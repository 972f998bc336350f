"""Run transitions with their events: each moves the run through the contracts' table with a
conditional update and stages its event in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.analysis.db import runs
from tasktracker.analysis.db.models import ProposalRow, RunRow
from tasktracker.analysis.domain import lifecycle
from tasktracker.analysis.domain.lifecycle import RunStatus
from tasktracker.analysis.domain.metrics import Decided, run_metrics
from tasktracker.analysis.store import OUTBOX
from tasktracker.contracts.events import (
    ProposalApproved,
    ProposalMerged,
    ProposalRejected,
    RunCancelled,
    RunClosed,
    RunCompleted,
    RunFailed,
    RunReviewed,
)
from tasktracker.contracts.states import ProposalStatus, allowed_proposal_sources

Decision = ProposalApproved | ProposalRejected | ProposalMerged
DECISION_STATUS: dict[type, ProposalStatus] = {
    ProposalApproved: ProposalStatus.approved,
    ProposalRejected: ProposalStatus.rejected,
    ProposalMerged: ProposalStatus.merged,
}


class ProposalsPending(Exception):
    def __init__(self, pending: int) -> None:
        super().__init__(f"{pending} proposals are still pending")
        self.pending = pending


def _now() -> datetime:
    return datetime.now(UTC)


async def cancel(
    session: AsyncSession, project_id: int, run_id: uuid.UUID, actor: str, reason: str | None
) -> RunRow | None:
    """A pending run is cancelled; a running one too, and its worker stops at the next batch
    boundary (the batch in flight is not committed; committed batches stay)."""
    row = await runs.move(
        session,
        run_id,
        RunStatus.cancelled,
        project_id=project_id,
        cancelled_by=actor,
        finished_at=_now(),
        lease_owner=None,
        lease_until=None,
    )
    if row is not None:
        await OUTBOX.stage(
            session,
            RunCancelled(run_id=row.id, reason=reason, cancelled_by=actor),
            project_id=row.project_id,
        )
    return row


async def complete(session: AsyncSession, run_id: uuid.UUID) -> RunRow | None:
    row = await runs.move(
        session, run_id, RunStatus.completed, finished_at=_now(), lease_owner=None, lease_until=None
    )
    if row is None:
        return None
    await OUTBOX.stage(
        session,
        RunCompleted(
            run_id=row.id, batches_total=row.batches_total, proposals_total=row.proposals_total
        ),
        project_id=row.project_id,
    )
    return await review_if_decided(session, row)


async def fail(session: AsyncSession, run_id: uuid.UUID, error: str) -> RunRow | None:
    row = await runs.move(
        session,
        run_id,
        RunStatus.failed,
        error=error,
        finished_at=_now(),
        lease_owner=None,
        lease_until=None,
    )
    if row is not None:
        await OUTBOX.stage(
            session,
            RunFailed(run_id=row.id, error=error, batches_done=row.batches_done),
            project_id=row.project_id,
        )
    return row


async def review_if_decided(session: AsyncSession, row: RunRow) -> RunRow:
    """completed → reviewed when nothing is pending (or nothing was proposed)."""
    pending = await runs.pending_proposals(session, row.id)
    if lifecycle.next_after_decisions(row.status, pending) is None:
        return row
    moved = await runs.move(session, row.id, RunStatus.reviewed)
    assert moved is not None
    await OUTBOX.stage(
        session,
        RunReviewed(run_id=moved.id, proposals_total=moved.proposals_total),
        project_id=moved.project_id,
    )
    return moved


async def close(
    session: AsyncSession, project_id: int, run_id: uuid.UUID, actor: str
) -> RunRow | None:
    row = await runs.get(session, project_id, run_id)
    if row is None:
        return None
    row = await runs.lock(session, run_id)
    assert row is not None
    pending = await runs.pending_proposals(session, run_id)
    if lifecycle.closable(row.status, pending) is None:  # raises InvalidTransition: 409
        raise ProposalsPending(pending)
    if row.status == RunStatus.completed:
        row = await review_if_decided(session, row)
    proposals = (
        await session.execute(
            select(ProposalRow.status, ProposalRow.confidence, ProposalRow.edited).where(
                ProposalRow.run_id == run_id
            )
        )
    ).all()
    metrics = run_metrics(
        [Decided(ProposalStatus(s), c, e) for s, c, e in proposals], batches=row.batches_total
    )
    closed = await runs.move(
        session,
        run_id,
        RunStatus.closed,
        metrics=metrics.model_dump(mode="json"),
        closed_by=actor,
        closed_at=_now(),
    )
    assert closed is not None
    await OUTBOX.stage(
        session,
        RunClosed(run_id=run_id, metrics=metrics, closed_by=actor),
        project_id=closed.project_id,
    )
    return closed


async def apply_decisions(session: AsyncSession, decisions: Sequence[Decision]) -> None:
    """Follow review: each proposal's decision once, the run's tally as the newest event
    carried it, and completed → reviewed when the last pending proposal is decided."""
    touched: set[uuid.UUID] = set()
    for event in decisions:
        target = DECISION_STATUS[type(event)]
        await session.execute(
            update(ProposalRow)
            .where(
                ProposalRow.id == event.proposal_id,
                ProposalRow.run_id == event.run_id,
                ProposalRow.status.in_([str(s) for s in allowed_proposal_sources(target)]),
            )
            .values(
                status=str(target),
                edited=isinstance(event, ProposalApproved) and event.edited,
                decided_at=_now(),
            )
        )
        c = event.counters
        decided = c.approved + c.rejected + c.merged
        await session.execute(
            update(RunRow)
            .where(
                RunRow.id == event.run_id,
                RunRow.approved + RunRow.rejected + RunRow.merged < decided,
            )
            .values(approved=c.approved, rejected=c.rejected, merged=c.merged)
        )
        touched.add(event.run_id)
    for run_id in sorted(touched):
        row = await runs.lock(session, run_id)
        if row is not None and row.status == RunStatus.completed:
            await review_if_decided(session, row)

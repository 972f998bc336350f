"""A run's lifecycle: every change goes through the contracts' transition table, and the
`completed → reviewed` rule that follows from the decisions."""

from __future__ import annotations

from tasktracker.contracts.states import (
    UNCLOSED_RUN_STATUSES,
    RunStatus,
    allowed_sources,
    run_transition,
)

__all__ = [
    "UNCLOSED_RUN_STATUSES",
    "RunStatus",
    "closable",
    "next_after_decisions",
    "sources",
    "transition",
]


def transition(current: RunStatus | str, target: RunStatus | str) -> RunStatus:
    """`target`, or InvalidTransition (a 409 at the API)."""
    return run_transition(current, target)


def sources(target: RunStatus | str) -> list[str]:
    """The statuses a conditional `UPDATE … WHERE status IN (…)` may move to `target`."""
    return sorted(str(status) for status in allowed_sources(target))


def next_after_decisions(status: RunStatus | str, pending: int) -> RunStatus | None:
    """A completed run with nothing left pending becomes reviewed; otherwise nothing moves."""
    if RunStatus(status) is RunStatus.completed and pending == 0:
        return transition(RunStatus.completed, RunStatus.reviewed)
    return None


def closable(status: RunStatus | str, pending: int) -> RunStatus | None:
    """What closing a run needs before the transition itself: the status the run is closed
    from (a completed run with nothing pending passes through reviewed), or None when
    proposals are still pending (a 400). A wrong status raises InvalidTransition (a 409)."""
    status = RunStatus(status)
    if status not in (RunStatus.completed, RunStatus.reviewed):
        transition(status, RunStatus.closed)  # raises: the table says why
    if pending > 0:
        return None
    if status is RunStatus.completed:
        status = transition(status, RunStatus.reviewed)
    transition(status, RunStatus.closed)
    return status

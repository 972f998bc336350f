"""Lifecycle state machines of analysis runs and task proposals (DESIGN.md §4).

Every service enforces these tables; a request for a transition that is not listed is a 409.
"""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class RunStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    reviewed = "reviewed"
    closed = "closed"
    failed = "failed"
    cancelled = "cancelled"


class ProposalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    merged = "merged"


RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = MappingProxyType(
    {
        RunStatus.pending: frozenset({RunStatus.running, RunStatus.cancelled}),
        RunStatus.running: frozenset({RunStatus.completed, RunStatus.failed, RunStatus.cancelled}),
        RunStatus.completed: frozenset({RunStatus.reviewed}),
        RunStatus.reviewed: frozenset({RunStatus.closed}),
        RunStatus.closed: frozenset(),
        RunStatus.failed: frozenset(),
        RunStatus.cancelled: frozenset(),
    }
)

PROPOSAL_TRANSITIONS: Mapping[ProposalStatus, frozenset[ProposalStatus]] = MappingProxyType(
    {
        ProposalStatus.pending: frozenset(
            {ProposalStatus.approved, ProposalStatus.rejected, ProposalStatus.merged}
        ),
        ProposalStatus.approved: frozenset(),
        ProposalStatus.rejected: frozenset(),
        ProposalStatus.merged: frozenset(),
    }
)

TERMINAL_RUN_STATUSES: frozenset[RunStatus] = frozenset(
    status for status, targets in RUN_TRANSITIONS.items() if not targets
)
# A project may have at most one run in one of these statuses.
UNCLOSED_RUN_STATUSES: frozenset[RunStatus] = frozenset(RunStatus) - TERMINAL_RUN_STATUSES
DECIDED_PROPOSAL_STATUSES: frozenset[ProposalStatus] = frozenset(
    {ProposalStatus.approved, ProposalStatus.rejected, ProposalStatus.merged}
)


class InvalidTransition(ValueError):
    """A state change the transition table does not allow (a 409 at the API)."""

    def __init__(self, entity: str, current: str, target: str) -> None:
        self.entity = entity
        self.current = current
        self.target = target
        super().__init__(f"{entity} cannot go from {current!s} to {target!s}")


def can_transition_run(current: RunStatus | str, target: RunStatus | str) -> bool:
    return RunStatus(target) in RUN_TRANSITIONS[RunStatus(current)]


def can_transition_proposal(current: ProposalStatus | str, target: ProposalStatus | str) -> bool:
    return ProposalStatus(target) in PROPOSAL_TRANSITIONS[ProposalStatus(current)]


def run_transition(current: RunStatus | str, target: RunStatus | str) -> RunStatus:
    """Return `target` if a run in `current` may move to it, else raise InvalidTransition."""
    current, target = RunStatus(current), RunStatus(target)
    if target not in RUN_TRANSITIONS[current]:
        raise InvalidTransition("run", current, target)
    return target


def proposal_transition(
    current: ProposalStatus | str, target: ProposalStatus | str
) -> ProposalStatus:
    """Return `target` if a proposal in `current` may move to it, else raise InvalidTransition."""
    current, target = ProposalStatus(current), ProposalStatus(target)
    if target not in PROPOSAL_TRANSITIONS[current]:
        raise InvalidTransition("proposal", current, target)
    return target


def allowed_sources(target: RunStatus | str) -> frozenset[RunStatus]:
    """Run statuses from which `target` is one step away, for `UPDATE ... WHERE status IN`."""
    target = RunStatus(target)
    return frozenset(status for status, targets in RUN_TRANSITIONS.items() if target in targets)


def allowed_proposal_sources(target: ProposalStatus | str) -> frozenset[ProposalStatus]:
    """Proposal statuses from which `target` is one step away."""
    target = ProposalStatus(target)
    return frozenset(
        status for status, targets in PROPOSAL_TRANSITIONS.items() if target in targets
    )

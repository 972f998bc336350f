"""A decision on a proposal, and what it does to the run's tally.

The database decides *whether* a decision happens (a conditional update from `pending`); this
module decides *what* it means: which status it leads to (the contracts' state machine) and
which counters move. Both the SQL update and the tests derive from `tally_change`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from tasktracker.contracts.events import RunCounters
from tasktracker.contracts.states import InvalidTransition, ProposalStatus, proposal_transition


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"
    merge = "merge"


TARGET: dict[Decision, ProposalStatus] = {
    Decision.approve: ProposalStatus.approved,
    Decision.reject: ProposalStatus.rejected,
    Decision.merge: ProposalStatus.merged,
}

# A proposal whose run is closed can no longer be decided or edited.
RUN_CLOSED = "run is closed"


def decide(current: ProposalStatus | str, decision: Decision) -> ProposalStatus:
    """The status `decision` leads to from `current`; InvalidTransition (409) if none."""
    return proposal_transition(current, TARGET[decision])


def check_editable(current: ProposalStatus | str, run_closed: bool) -> None:
    """Only a pending proposal of an open run may be edited."""
    if run_closed:
        raise InvalidTransition("proposal", RUN_CLOSED, "edited")
    if ProposalStatus(current) is not ProposalStatus.pending:
        raise InvalidTransition("proposal", current, "edited")


def tally_change(target: ProposalStatus) -> dict[str, int]:
    """Column → delta of one decision: one fewer pending, one more `target`."""
    proposal_transition(ProposalStatus.pending, target)  # only a decision moves counters
    return {"pending": -1, str(target): 1}


@dataclass(frozen=True)
class Tally:
    """A run's counters as review keeps them (the `runs` row)."""

    total: int = 0
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    merged: int = 0

    def received(self, count: int) -> Tally:
        """`count` new pending proposals arrived."""
        return replace(self, total=self.total + count, pending=self.pending + count)

    def after(self, target: ProposalStatus) -> Tally:
        changes = {
            column: getattr(self, column) + delta for column, delta in tally_change(target).items()
        }
        if changes["pending"] < 0:
            raise ValueError("no pending proposal left to decide")
        return replace(self, **changes)

    @property
    def consistent(self) -> bool:
        return self.total == self.pending + self.approved + self.rejected + self.merged

    def counters(self) -> RunCounters:
        return RunCounters(
            total=self.total,
            pending=self.pending,
            approved=self.approved,
            rejected=self.rejected,
            merged=self.merged,
        )

"""Decisions through the contracts' state machine, and the tally arithmetic."""

from __future__ import annotations

import itertools
import random

import pytest

from tasktracker.contracts.events.tasks import TaskStatus
from tasktracker.contracts.states import InvalidTransition, ProposalStatus
from tasktracker.review.domain.decisions import (
    Decision,
    Tally,
    check_editable,
    decide,
    tally_change,
)
from tasktracker.review.domain.merging import merged_sources
from tasktracker.review.domain.tasks import task_transition


@pytest.mark.parametrize("decision", list(Decision))
def test_a_pending_proposal_is_decided_once(decision: Decision) -> None:
    target = decide(ProposalStatus.pending, decision)
    assert target == {"approve": "approved", "reject": "rejected", "merge": "merged"}[decision]
    for again in Decision:
        with pytest.raises(InvalidTransition):
            decide(target, again)


def test_tally_change_moves_one_pending_to_the_target() -> None:
    assert tally_change(ProposalStatus.merged) == {"pending": -1, "merged": 1}
    with pytest.raises(InvalidTransition):
        tally_change(ProposalStatus.pending)


def test_any_order_of_decisions_keeps_the_tally_exact() -> None:
    rng = random.Random(10)
    tally = Tally().received(120).received(80)
    decisions = [rng.choice(list(Decision)) for _ in range(200)]
    for decision in decisions:
        tally = tally.after(decide(ProposalStatus.pending, decision))
        assert tally.consistent
    assert tally.counters().model_dump() == {
        "total": 200,
        "pending": 0,
        "approved": decisions.count(Decision.approve),
        "rejected": decisions.count(Decision.reject),
        "merged": decisions.count(Decision.merge),
    }
    with pytest.raises(ValueError, match="no pending"):
        tally.after(ProposalStatus.approved)


def test_only_a_pending_proposal_of_an_open_run_is_editable() -> None:
    check_editable(ProposalStatus.pending, run_closed=False)
    with pytest.raises(InvalidTransition):
        check_editable(ProposalStatus.pending, run_closed=True)
    with pytest.raises(InvalidTransition):
        check_editable(ProposalStatus.approved, run_closed=False)


def test_a_merge_adds_each_source_message_once_in_order() -> None:
    assert merged_sources([5, 3], [3, 9, 5, 10]) == [5, 3, 9, 10]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(TaskStatus, repeat=2)))
def test_task_status_moves_one_step(current: TaskStatus, target: TaskStatus) -> None:
    one_step = {("open", "in_progress"), ("in_progress", "done"), ("in_progress", "open")}
    one_step |= {("done", "in_progress")}
    if current == target or (current, target) in one_step:
        assert task_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            task_transition(current, target)

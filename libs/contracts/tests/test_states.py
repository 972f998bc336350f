import itertools

import pytest

from tasktracker.contracts.states import (
    PROPOSAL_TRANSITIONS,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATUSES,
    UNCLOSED_RUN_STATUSES,
    InvalidTransition,
    ProposalStatus,
    RunStatus,
    allowed_proposal_sources,
    allowed_sources,
    can_transition_proposal,
    can_transition_run,
    proposal_transition,
    run_transition,
)

R = RunStatus
P = ProposalStatus

EXPECTED_RUN_EDGES = {
    (R.pending, R.running),
    (R.pending, R.cancelled),
    (R.running, R.completed),
    (R.running, R.failed),
    (R.running, R.cancelled),
    (R.completed, R.reviewed),
    (R.reviewed, R.closed),
}
EXPECTED_PROPOSAL_EDGES = {(P.pending, P.approved), (P.pending, P.rejected), (P.pending, P.merged)}

ALL_RUN_PAIRS = list(itertools.product(RunStatus, repeat=2))
ALL_PROPOSAL_PAIRS = list(itertools.product(ProposalStatus, repeat=2))


def test_run_table_is_exactly_the_designed_one() -> None:
    edges = {(src, dst) for src, targets in RUN_TRANSITIONS.items() for dst in targets}
    assert edges == EXPECTED_RUN_EDGES
    assert set(RUN_TRANSITIONS) == set(RunStatus)


def test_proposal_table_is_exactly_the_designed_one() -> None:
    edges = {(src, dst) for src, targets in PROPOSAL_TRANSITIONS.items() for dst in targets}
    assert edges == EXPECTED_PROPOSAL_EDGES
    assert set(PROPOSAL_TRANSITIONS) == set(ProposalStatus)


@pytest.mark.parametrize(("current", "target"), ALL_RUN_PAIRS)
def test_every_run_pair(current: RunStatus, target: RunStatus) -> None:
    if (current, target) in EXPECTED_RUN_EDGES:
        assert run_transition(current, target) is target
        assert can_transition_run(current, target)
        assert current in allowed_sources(target)
    else:
        with pytest.raises(InvalidTransition) as info:
            run_transition(current, target)
        assert (info.value.entity, info.value.current, info.value.target) == (
            "run",
            current,
            target,
        )
        assert not can_transition_run(current, target)
        assert current not in allowed_sources(target)


@pytest.mark.parametrize(("current", "target"), ALL_PROPOSAL_PAIRS)
def test_every_proposal_pair(current: ProposalStatus, target: ProposalStatus) -> None:
    if (current, target) in EXPECTED_PROPOSAL_EDGES:
        assert proposal_transition(current, target) is target
        assert can_transition_proposal(current, target)
        assert current in allowed_proposal_sources(target)
    else:
        with pytest.raises(InvalidTransition) as info:
            proposal_transition(current, target)
        assert info.value.entity == "proposal"
        assert (info.value.current, info.value.target) == (current, target)
        assert not can_transition_proposal(current, target)


def test_transitions_accept_plain_strings() -> None:
    assert run_transition("pending", "running") is RunStatus.running
    assert proposal_transition("pending", "merged") is ProposalStatus.merged


def test_invalid_transition_is_a_value_error_with_a_readable_message() -> None:
    with pytest.raises(ValueError, match="run cannot go from closed to running"):
        run_transition(R.closed, R.running)


def test_status_groups() -> None:
    assert {R.closed, R.failed, R.cancelled} == TERMINAL_RUN_STATUSES
    assert {R.pending, R.running, R.completed, R.reviewed} == UNCLOSED_RUN_STATUSES


def test_allowed_sources() -> None:
    assert allowed_sources(R.cancelled) == {R.pending, R.running}
    assert allowed_sources(R.running) == {R.pending}
    assert allowed_sources(R.pending) == frozenset()
    assert allowed_proposal_sources(P.approved) == {P.pending}

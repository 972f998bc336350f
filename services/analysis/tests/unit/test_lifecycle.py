"""Every run transition, allowed and forbidden, through the contracts' table."""

from __future__ import annotations

import itertools

import pytest

from tasktracker.analysis.domain.lifecycle import (
    closable,
    next_after_decisions,
    sources,
    transition,
)
from tasktracker.contracts.states import InvalidTransition, RunStatus

S = RunStatus
ALLOWED = {
    (S.pending, S.running),
    (S.pending, S.cancelled),
    (S.running, S.completed),
    (S.running, S.failed),
    (S.running, S.cancelled),
    (S.completed, S.reviewed),
    (S.reviewed, S.closed),
}


@pytest.mark.parametrize("current,target", sorted(ALLOWED))
def test_allowed(current: RunStatus, target: RunStatus) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize("current,target", sorted(set(itertools.product(S, S)) - ALLOWED))
def test_forbidden(current: RunStatus, target: RunStatus) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)


def test_conditional_updates_take_the_sources_from_the_table() -> None:
    assert sources(S.running) == ["pending"]
    assert sources(S.cancelled) == ["pending", "running"]
    assert sources(S.closed) == ["reviewed"]


def test_a_completed_run_becomes_reviewed_when_nothing_is_pending() -> None:
    assert next_after_decisions(S.completed, 0) is S.reviewed
    assert next_after_decisions(S.completed, 1) is None
    assert next_after_decisions(S.running, 0) is None
    assert next_after_decisions(S.reviewed, 0) is None


def test_closing() -> None:
    assert closable(S.reviewed, 0) is S.reviewed
    assert closable(S.completed, 0) is S.reviewed  # passes through reviewed
    assert closable(S.completed, 2) is None  # a 400: proposals pending
    for status in (S.pending, S.running, S.failed, S.cancelled, S.closed):
        with pytest.raises(InvalidTransition):
            closable(status, 0)

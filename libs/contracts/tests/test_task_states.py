"""A task's status moves one step at a time, forwards or back (issue 10)."""

import itertools

import pytest

from tasktracker.contracts.events.tasks import TaskStatus, can_transition_task

ALLOWED = {
    (TaskStatus.open, TaskStatus.in_progress),
    (TaskStatus.in_progress, TaskStatus.done),
    (TaskStatus.in_progress, TaskStatus.open),
    (TaskStatus.done, TaskStatus.in_progress),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(TaskStatus, repeat=2)))
def test_every_task_status_pair(current: TaskStatus, target: TaskStatus) -> None:
    assert can_transition_task(current, target) is ((current, target) in ALLOWED)

"""A task's status changes one step at a time (contracts' TASK_TRANSITIONS)."""

from __future__ import annotations

from tasktracker.contracts.events.tasks import TaskStatus, can_transition_task
from tasktracker.contracts.states import InvalidTransition


def task_transition(current: TaskStatus | str, target: TaskStatus | str) -> TaskStatus:
    """`target` if a task in `current` may move to it (staying put is no change), else 409."""
    current, target = TaskStatus(current), TaskStatus(target)
    if current is not target and not can_transition_task(current, target):
        raise InvalidTransition("task", current, target)
    return target

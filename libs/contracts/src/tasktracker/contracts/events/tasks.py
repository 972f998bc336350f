"""Events of the `tasks` topic, published by review: tasks created from approved proposals and
every later change (title, description, assignee, status…).

A task's status moves one step at a time, forwards or back: open ⇄ in_progress ⇄ done. The
table lives here, beside the events that carry it, so every service reads the same rule.
"""

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from tasktracker.contracts.enums import Category, Priority
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import NonEmptyStr
from tasktracker.contracts.subjects import Topic


class TaskStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"


TASK_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = MappingProxyType(
    {
        TaskStatus.open: frozenset({TaskStatus.in_progress}),
        TaskStatus.in_progress: frozenset({TaskStatus.open, TaskStatus.done}),
        TaskStatus.done: frozenset({TaskStatus.in_progress}),
    }
)


def can_transition_task(current: TaskStatus | str, target: TaskStatus | str) -> bool:
    return TaskStatus(target) in TASK_TRANSITIONS[TaskStatus(current)]


class TaskRecord(BaseModel):
    """A task as review stores it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    title: NonEmptyStr
    description: str
    priority: Priority
    category: Category
    tags: list[str] = []
    assignee: str | None = None
    due_date: date | None = None
    status: TaskStatus
    source_message_ids: list[int]
    proposal_id: UUID | None = None  # the approved proposal it was created from


class TaskCreated(EventPayload):
    """A task was created (by approving a proposal); carries the whole task."""

    topic = Topic.tasks
    event_type = "task_created"

    task: TaskRecord
    created_by: NonEmptyStr


class TaskUpdated(EventPayload):
    """A task was changed; `changes` maps field name to its new JSON value."""

    topic = Topic.tasks
    event_type = "task_updated"

    task_id: int
    updated_by: NonEmptyStr
    changes: dict[str, Any]


TASKS_EVENTS: tuple[type[EventPayload], ...] = (TaskCreated, TaskUpdated)

"""Events of the `proposals` topic: PM decisions on task proposals, published by review.

Decision events carry review's counters for the run *after* the decision, so analysis can
follow the run's tally (and move it to `reviewed`) without counting events itself.
"""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import Count, NonEmptyStr
from tasktracker.contracts.subjects import Topic


class RunCounters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total: Count
    pending: Count
    approved: Count
    rejected: Count
    merged: Count


class ProposalApproved(EventPayload):
    topic = Topic.proposals
    event_type = "approved"

    proposal_id: UUID
    run_id: UUID
    decided_by: NonEmptyStr
    edited: bool  # the PM changed the proposal before approving it
    task_id: int | None = None  # the task created from it
    counters: RunCounters


class ProposalRejected(EventPayload):
    topic = Topic.proposals
    event_type = "rejected"

    proposal_id: UUID
    run_id: UUID
    decided_by: NonEmptyStr
    reason: str | None = None
    counters: RunCounters


class ProposalMerged(EventPayload):
    """The proposal was merged into an existing task of the project (`task_id`): the task
    gained its source messages and a link to it. Two duplicate proposals of one run: one is
    approved (its task is created), the other merged into that task."""

    topic = Topic.proposals
    event_type = "merged"

    proposal_id: UUID
    run_id: UUID
    decided_by: NonEmptyStr
    task_id: int
    counters: RunCounters


class ProposalUpdated(EventPayload):
    """A pending proposal was edited; `changes` maps field name to its new JSON value."""

    topic = Topic.proposals
    event_type = "updated"

    proposal_id: UUID
    run_id: UUID
    updated_by: NonEmptyStr
    changes: dict[str, Any]


PROPOSALS_EVENTS: tuple[type[EventPayload], ...] = (
    ProposalApproved,
    ProposalRejected,
    ProposalMerged,
    ProposalUpdated,
)

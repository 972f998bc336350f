"""Events of the `analysis_runs` topic, published by analysis in lifecycle order."""

from datetime import date
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasktracker.contracts.enums import Category, Priority
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import Confidence, Count, NonEmptyStr, Ratio, UtcDatetime
from tasktracker.contracts.subjects import Topic


class TaskProposalData(BaseModel):
    """A task the LLM proposed from one batch; review stores it as a pending proposal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: UUID
    batch_index: Count
    title: str = Field(min_length=1, max_length=300)
    description: str
    priority: Priority
    category: Category
    assignee: str | None = None
    due_date: date | None = None
    source_message_ids: list[int]  # only ids of messages in this batch
    confidence: Confidence
    # Added by issue 9 with defaults, so payloads written before stay valid.
    tags: list[str] = []
    reasoning: str = ""  # one line: why this is a task


class RunMetrics(BaseModel):
    """Accuracy figures stored when a run is closed. The approval, rejection and merge rates
    are fractions of `total`; `edited_before_approval_rate` is the fraction of the approved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: Count
    approved: Count
    rejected: Count
    merged: Count
    edited_before_approval: Count
    approval_rate: Ratio
    rejection_rate: Ratio
    merge_rate: Ratio
    edited_before_approval_rate: Ratio
    # Added by issue 9 with defaults, so payloads written before stay valid. A mean is None
    # when no proposal was approved (rejected).
    mean_confidence_approved: Confidence | None = None
    mean_confidence_rejected: Confidence | None = None
    batches: Count = 0
    proposals_per_batch: float = Field(default=0.0, ge=0)


class RunCreated(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_created"

    run_id: UUID
    window_start: UtcDatetime
    window_end: UtcDatetime
    created_by: NonEmptyStr

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


class RunStarted(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_started"

    run_id: UUID
    total_messages: Count
    total_batches: Count


class ProgressUpdated(EventPayload):
    topic = Topic.analysis_runs
    event_type = "progress_updated"

    run_id: UUID
    batches_done: Count
    batches_total: Count
    proposals_total: Count


class TaskProposalsCreated(EventPayload):
    """The proposals of one finished batch (at most one such event per batch index)."""

    topic = Topic.analysis_runs
    event_type = "proposals_created"

    run_id: UUID
    batch_index: Count
    proposals: list[TaskProposalData]

    @model_validator(mode="after")
    def _proposals_belong_to_batch(self) -> Self:
        if any(proposal.batch_index != self.batch_index for proposal in self.proposals):
            raise ValueError("every proposal's batch_index must equal the event's batch_index")
        return self


class ProposalWithdrawal(BaseModel):
    """An earlier proposal of the run that a later batch called off, and the messages that
    called it off (ids of that later batch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: UUID
    message_ids: list[int] = Field(min_length=1)


class TaskProposalsWithdrawn(EventPayload):
    """A later batch of the run cancels work an earlier batch proposed ("scratch Friday's
    training"): analysis withdraws those proposals. Committed with that batch's proposals; at
    most one such event per batch index. A proposal already decided stays as decided."""

    topic = Topic.analysis_runs
    event_type = "proposals_withdrawn"

    run_id: UUID
    batch_index: Count
    withdrawals: list[ProposalWithdrawal] = Field(min_length=1)


class RunCompleted(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_completed"

    run_id: UUID
    batches_total: Count
    proposals_total: Count


class RunFailed(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_failed"

    run_id: UUID
    error: str
    batches_done: Count


class RunCancelled(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_cancelled"

    run_id: UUID
    reason: str | None = None
    cancelled_by: str | None = None  # None when the system cancelled it


class RunReviewed(EventPayload):
    """Every proposal of the completed run is decided (or it proposed none): the run may be
    closed. Added by issue 9 — every transition emits its event, and this one had none."""

    topic = Topic.analysis_runs
    event_type = "run_reviewed"

    run_id: UUID
    proposals_total: Count


class RunClosed(EventPayload):
    topic = Topic.analysis_runs
    event_type = "run_closed"

    run_id: UUID
    metrics: RunMetrics
    closed_by: NonEmptyStr


ANALYSIS_RUNS_EVENTS: tuple[type[EventPayload], ...] = (
    RunCreated,
    RunStarted,
    ProgressUpdated,
    TaskProposalsCreated,
    TaskProposalsWithdrawn,
    RunCompleted,
    RunFailed,
    RunCancelled,
    RunReviewed,
    RunClosed,
)

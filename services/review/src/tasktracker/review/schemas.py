"""Request and response bodies of the API. Field rules come from the contracts (the
proposal's title bounds, Priority, Category, TaskStatus) so there is one definition of each."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tasktracker.contracts.enums import Category, Priority
from tasktracker.contracts.events import TaskProposalData, TaskStatus

_title = TaskProposalData.model_fields["title"].metadata
Title = Annotated[str, StringConstraints(strip_whitespace=True), *_title]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Assignee = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=20_000)]
MAX_BULK = 500


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class ProposalEdit(_Edit):
    title: Title = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    priority: Priority = None  # type: ignore[assignment]
    category: Category = None  # type: ignore[assignment]
    tags: Annotated[list[Tag], Field(max_length=20)] = None  # type: ignore[assignment]
    assignee: Assignee | None = None  # null clears it

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in ("title", "description", "priority", "category", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class TaskEdit(_Edit):
    title: Title = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    assignee: Assignee | None = None
    status: TaskStatus = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in ("title", "description", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
TaskId = Annotated[int, Field(gt=0, le=2**63 - 1)]
Ids = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BULK)]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class MergeInto(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: TaskId


class BulkApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: Ids


class BulkReject(Rejection):
    ids: Ids


class BulkMerge(MergeInto):
    ids: Ids


class SourceMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_name: str
    text: str
    sent_at: datetime
    edited_at: datetime | None


class ProposalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    batch_index: int
    title: str
    description: str
    priority: str
    category: str
    tags: list[str]
    assignee: str | None
    due_date: date | None
    confidence: float
    reasoning: str
    source_message_ids: list[int]
    status: str
    edited: bool
    similar_task_id: int | None
    similar_task_score: float | None
    similar_proposal_id: uuid.UUID | None
    similar_proposal_score: float | None
    # What to merge into in one action: the similar open task, else the task an earlier
    # similar proposal of the run became once it was approved.
    suggested_task_id: int | None = None
    task_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    created_at: datetime


class ProposalDetail(ProposalOut):
    source_messages: list[SourceMessage]


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    next_cursor: str | None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    priority: str
    category: str
    tags: list[str]
    assignee: str | None
    due_date: date | None
    status: str
    source_message_ids: list[int]
    proposal_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class LinkedProposal(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    title: str
    status: str
    decided_by: str | None
    decided_at: datetime | None


class TaskDetail(TaskOut):
    source_messages: list[SourceMessage]
    proposals: list[LinkedProposal]  # the approved one it came from and those merged into it


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None

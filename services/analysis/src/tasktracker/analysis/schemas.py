"""Request and response bodies of the runs API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasktracker.contracts.primitives import UtcDatetime

ProjectId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class RunCreate(BaseModel):
    """`window_start` inclusive, `window_end` exclusive."""

    model_config = ConfigDict(extra="forbid")

    window_start: UtcDatetime
    window_end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.window_start >= self.window_end:
            raise ValueError("window_start must be before window_end")
        return self


class RunCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class Progress(BaseModel):
    batches_done: int
    batches_total: int


class Counters(BaseModel):
    proposals_total: int
    approved: int
    rejected: int
    merged: int
    pending: int


class Timings(BaseModel):
    created_at: datetime
    start_requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    closed_at: datetime | None


class RunOut(BaseModel):
    id: uuid.UUID
    project_id: int
    status: str
    window_start: datetime
    window_end: datetime
    created_by: str
    model: str | None
    concurrency: int
    progress: Progress
    counters: Counters
    timings: Timings
    metrics: dict[str, Any] | None
    error: str | None
    cancelled_by: str | None
    closed_by: str | None

    @classmethod
    def of(cls, row: Any) -> RunOut:
        decided = row.approved + row.rejected + row.merged
        return cls(
            id=row.id,
            project_id=row.project_id,
            status=row.status,
            window_start=row.window_start,
            window_end=row.window_end,
            created_by=row.created_by,
            model=row.model,
            concurrency=row.concurrency,
            progress=Progress(batches_done=row.batches_done, batches_total=row.batches_total),
            counters=Counters(
                proposals_total=row.proposals_total,
                approved=row.approved,
                rejected=row.rejected,
                merged=row.merged,
                pending=max(row.proposals_total - decided, 0),
            ),
            timings=Timings(
                created_at=row.created_at,
                start_requested_at=row.start_requested_at,
                started_at=row.started_at,
                finished_at=row.finished_at,
                closed_at=row.closed_at,
            ),
            metrics=row.metrics,
            error=row.error,
            cancelled_by=row.cancelled_by,
            closed_by=row.closed_by,
        )


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None

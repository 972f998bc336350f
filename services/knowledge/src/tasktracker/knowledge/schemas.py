"""Request and response bodies of the knowledge API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasktracker.contracts.primitives import UtcDatetime

MessageId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]


class ExtractRequest(BaseModel):
    """Either a window (`since` inclusive, `until` exclusive) or a list of message ids."""

    model_config = ConfigDict(extra="forbid")

    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    message_ids: list[MessageId] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        window = self.since is not None or self.until is not None
        if window and self.message_ids is not None:
            raise ValueError("give either since/until or message_ids, not both")
        if not window and self.message_ids is None:
            raise ValueError("give since and until, or message_ids")
        if window and (self.since is None or self.until is None):
            raise ValueError("a window needs both since and until")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        if self.message_ids is not None and not self.message_ids:
            raise ValueError("message_ids is empty")
        return self


class Accepted(BaseModel):
    extraction_id: uuid.UUID


class ExtractionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: int
    status: str
    window_start: datetime
    window_end: datetime
    message_count: int
    chunks_done: int
    chunks_total: int
    topic_proposals: int
    atom_proposals: int
    model: str | None
    error: str | None
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ProposalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    extraction_id: uuid.UUID
    kind: str  # "topic", or the atom's kind
    status: str
    title: str
    content: str
    keywords: list[str]
    topic_name: str | None
    topic_proposal_id: uuid.UUID | None
    topic_id: int | None
    source_message_ids: list[int]
    confidence: float | None
    edited: bool
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_id: int | None
    created_at: datetime


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    next_cursor: str | None


class ProposalEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=1, max_length=300)] | None = None
    content: Annotated[Text, Field(max_length=4000)] | None = None
    keywords: list[Annotated[Text, Field(min_length=1, max_length=100)]] | None = None
    topic_name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class BulkDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)]
    reason: Annotated[Text, Field(min_length=1, max_length=2000)] | None = None


class TopicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    keywords: list[str]
    source_message_ids: list[int]
    proposal_id: uuid.UUID | None
    created_at: datetime


class AtomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    topic_id: int | None
    kind: str
    title: str
    content: str
    source_message_ids: list[int]
    confidence: float | None
    proposal_id: uuid.UUID | None
    created_at: datetime

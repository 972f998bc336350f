"""Events of the `knowledge_extraction` topic, published by knowledge."""

from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator

from tasktracker.contracts.enums import AtomKind
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import Confidence, Count, NonEmptyStr, UtcDatetime
from tasktracker.contracts.subjects import Topic


class TopicProposalData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: UUID
    name: NonEmptyStr
    description: str
    keywords: list[str] = []
    source_message_ids: list[int] = []


class AtomProposalData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: UUID
    topic_name: str | None = None  # links to a TopicProposalData.name or an existing topic
    # The topic proposal (this event's or an earlier pending one) or the existing topic the
    # atom attaches to, when its topic name matched one.
    topic_proposal_id: UUID | None = None
    topic_id: int | None = None
    kind: AtomKind
    title: NonEmptyStr
    content: str
    source_message_ids: list[int]
    confidence: Confidence


class ExtractionStarted(EventPayload):
    topic = Topic.knowledge_extraction
    event_type = "extraction_started"

    extraction_id: UUID
    window_start: UtcDatetime
    window_end: UtcDatetime
    message_count: Count

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


class KnowledgeProposalsCreated(EventPayload):
    topic = Topic.knowledge_extraction
    event_type = "proposals_created"

    extraction_id: UUID
    topics: list[TopicProposalData]
    atoms: list[AtomProposalData]


class ExtractionCompleted(EventPayload):
    topic = Topic.knowledge_extraction
    event_type = "extraction_completed"

    extraction_id: UUID
    topic_proposals: Count
    atom_proposals: Count


class ExtractionFailed(EventPayload):
    topic = Topic.knowledge_extraction
    event_type = "extraction_failed"

    extraction_id: UUID
    error: str


KNOWLEDGE_EXTRACTION_EVENTS: tuple[type[EventPayload], ...] = (
    ExtractionStarted,
    KnowledgeProposalsCreated,
    ExtractionCompleted,
    ExtractionFailed,
)

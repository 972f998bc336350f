"""Events of the `topics` topic: approved knowledge, published by knowledge."""

from uuid import UUID

from tasktracker.contracts.enums import AtomKind
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import Confidence, NonEmptyStr
from tasktracker.contracts.subjects import Topic


class TopicCreated(EventPayload):
    topic = Topic.topics
    event_type = "topic_created"

    topic_id: int
    name: NonEmptyStr
    description: str
    proposal_id: UUID | None = None  # the approved proposal, None if created by hand
    keywords: list[str] = []
    source_message_ids: list[int] = []


class AtomCreated(EventPayload):
    topic = Topic.topics
    event_type = "atom_created"

    atom_id: int
    topic_id: int | None = None
    kind: AtomKind
    title: NonEmptyStr
    content: str
    source_message_ids: list[int]
    confidence: Confidence | None = None
    proposal_id: UUID | None = None  # the approved proposal, None if created by hand


TOPICS_EVENTS: tuple[type[EventPayload], ...] = (TopicCreated, AtomCreated)

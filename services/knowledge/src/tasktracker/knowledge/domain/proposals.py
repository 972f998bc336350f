"""From one chunk's answer to the proposals to store: invented ids dropped, twin topics
attached to the topic or pending proposal of the same name, atoms linked to their topic."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from tasktracker.contracts.enums import AtomKind
from tasktracker.knowledge.domain.extraction import Extraction, cited, name_key


@dataclass(frozen=True)
class KnownTopic:
    """A topic name the project already has: an approved topic or a pending topic proposal."""

    topic_id: int | None = None
    proposal_id: uuid.UUID | None = None


@dataclass
class NewTopic:
    proposal_id: uuid.UUID
    name: str
    description: str
    keywords: list[str]
    message_ids: list[int]


@dataclass
class NewAtom:
    proposal_id: uuid.UUID
    kind: AtomKind
    title: str
    content: str
    topic_name: str | None
    topic_proposal_id: uuid.UUID | None
    topic_id: int | None
    message_ids: list[int]
    confidence: float


@dataclass
class ChunkPlan:
    topics: list[NewTopic] = field(default_factory=list)
    atoms: list[NewAtom] = field(default_factory=list)
    # Messages a topic draft adds to a pending proposal of the same name (proposal id → ids).
    attached: dict[uuid.UUID, list[int]] = field(default_factory=dict)
    dropped_ids: int = 0  # cited ids that were not in the chunk


def plan_chunk(
    answer: Extraction, allowed_ids: set[int], known: Mapping[str, KnownTopic]
) -> ChunkPlan:
    """`known` maps `name_key` of the project's topics and pending topic proposals."""
    plan = ChunkPlan()
    by_key: dict[str, KnownTopic] = dict(known)
    fresh: dict[str, NewTopic] = {}
    for draft in answer.topics:
        ids = cited(draft.message_ids, allowed_ids)
        plan.dropped_ids += len(draft.message_ids) - len(ids)
        key = name_key(draft.name)
        if not ids or not key:
            continue
        if key in fresh:  # the same name twice in one answer: one proposal
            _extend(fresh[key].message_ids, ids)
            continue
        match = by_key.get(key)
        if match is not None:
            if match.proposal_id is not None:
                _extend(plan.attached.setdefault(match.proposal_id, []), ids)
            continue
        topic = NewTopic(
            proposal_id=uuid.uuid4(),
            name=" ".join(draft.name.split()),
            description=draft.description,
            keywords=list(dict.fromkeys(k.strip() for k in draft.keywords if k.strip())),
            message_ids=ids,
        )
        fresh[key] = topic
        by_key[key] = KnownTopic(proposal_id=topic.proposal_id)
        plan.topics.append(topic)
    for draft in answer.atoms:
        ids = cited(draft.message_ids, allowed_ids)
        plan.dropped_ids += len(draft.message_ids) - len(ids)
        if not ids:
            continue  # an atom must come from the chunk's messages
        link = by_key.get(name_key(draft.topic_name)) if draft.topic_name else None
        plan.atoms.append(
            NewAtom(
                proposal_id=uuid.uuid4(),
                kind=draft.kind,
                title=draft.title.strip() or draft.title,
                content=draft.content,
                topic_name=draft.topic_name,
                topic_proposal_id=link.proposal_id if link else None,
                topic_id=link.topic_id if link else None,
                message_ids=ids,
                confidence=draft.confidence,
            )
        )
    return plan


def _extend(target: list[int], ids: list[int]) -> None:
    target.extend(i for i in ids if i not in target)

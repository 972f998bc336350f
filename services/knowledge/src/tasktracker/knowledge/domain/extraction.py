"""What the extractor sees (a chunk of chat lines) and what it must answer (the agent's typed
output), and the rules applied to every answer before it is stored."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, Field

from tasktracker.contracts.enums import AtomKind

# What extraction proposes; `risk` and `other` exist only for atoms made by hand.
EXTRACTED_KINDS = (
    AtomKind.problem,
    AtomKind.solution,
    AtomKind.decision,
    AtomKind.question,
    AtomKind.insight,
    AtomKind.requirement,
    AtomKind.fact,
)


@dataclass(frozen=True)
class ChatLine:
    """One message as the extractor sees it; `id` is the id every service cites."""

    id: int
    author: str
    text: str
    sent_at: datetime
    reply_to: int | None = None  # the cited message's `id`, when it is known


class TopicDraft(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    keywords: list[str] = Field(default_factory=list, max_length=20)
    message_ids: list[int] = Field(default_factory=list)


class AtomDraft(BaseModel):
    kind: AtomKind
    title: str = Field(min_length=1, max_length=300)
    content: str = Field(default="", max_length=4000)
    topic_name: str | None = None
    message_ids: list[int] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0, le=1)


class Extraction(BaseModel):
    """The agent's output for one chunk of messages."""

    topics: list[TopicDraft] = Field(default_factory=list)
    atoms: list[AtomDraft] = Field(default_factory=list)


INSTRUCTIONS = f"""You read a chunk of a software team's chat and propose knowledge for a
person to review. Topics: a subject the team discusses over several messages (a bug, a
feature, a release, an incident); give a short name, a one-line description, keywords and the
ids of every message about it, replies included. Chatter (lunch, birthdays, greetings,
goodbyes) is no topic. Atoms: knowledge worth keeping after the chat is forgotten, one per
fact stated; kind is one of {", ".join(EXTRACTED_KINDS)} — problem (something broken or
failing), solution (what fixed it or how to work around it), decision (what the team agreed
or called off), question (asked and still useful to know), insight (a cause found, something
learned), requirement (what must hold), fact (numbers, dates, owners, how things are set up);
a short title, the content in a sentence or two, the name of its topic, the ids of the
messages it comes from, and your confidence from 0 to 1. Cite only ids of the messages given.
Skip greetings, acknowledgements and chatter."""


def render_prompt(lines: Sequence[ChatLine]) -> str:
    """The chunk as the model reads it: one JSON object per line, in time order."""
    rows = [
        json.dumps(
            {
                "id": line.id,
                "author": line.author,
                "sent_at": line.sent_at.isoformat(),
                "reply_to": line.reply_to,
                "text": line.text,
            },
            ensure_ascii=False,
        )
        for line in lines
    ]
    return "Messages (JSON lines):\n" + "\n".join(rows)


def parse_prompt(prompt: str) -> list[ChatLine]:
    """The inverse of `render_prompt`, for the offline extractor."""
    lines = []
    for row in prompt.splitlines()[1:]:
        data = json.loads(row)
        lines.append(
            ChatLine(
                id=data["id"],
                author=data["author"],
                text=data["text"],
                sent_at=datetime.fromisoformat(data["sent_at"]),
                reply_to=data.get("reply_to"),
            )
        )
    return lines


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive chunks of at most `size` items, in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [items[start : start + size] for start in range(0, len(items), size)]


_SPACE = re.compile(r"\s+")


def name_key(name: str) -> str:
    """What makes two topic names the same topic: case and whitespace don't count."""
    return _SPACE.sub(" ", name).strip().casefold()


def cited(ids: Iterable[int], allowed: set[int]) -> list[int]:
    """The ids that belong to the chunk, each once, in the order given: an id the model
    invented is dropped."""
    kept: list[int] = []
    for message_id in ids:
        if message_id in allowed and message_id not in kept:
            kept.append(message_id)
    return kept

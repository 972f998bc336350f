"""NATS subjects and WebSocket topic names (DESIGN.md §2).

On NATS an event lives at `space.<project_id>.<topic>.<event_type>`; WebSocket clients name the
same stream of events `space:<project_id>:<topic>` (or `space:<project_id>:*`). This module is
the only place that builds or parses either form.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Topic(StrEnum):
    messages = "messages"
    knowledge_extraction = "knowledge_extraction"
    topics = "topics"
    analysis_runs = "analysis_runs"
    proposals = "proposals"
    tasks = "tasks"


class SubjectError(ValueError):
    """A subject, client topic or one of their parts is malformed."""


SPACE = "space"
STREAM_SUBJECT = "space.>"
ALL_TOPICS = "*"

# Whitespace would split a NATS protocol line; `*` and `>` are wildcards; `.` separates tokens.
_FORBIDDEN_TOKEN_CHARS = frozenset(" \t\r\n*>")


def _check_project_id(project_id: Any) -> int:
    if isinstance(project_id, bool) or not isinstance(project_id, int):
        raise SubjectError(f"project id must be an int, got {project_id!r}")
    if project_id <= 0:
        raise SubjectError(f"project id must be positive, got {project_id}")
    return project_id


def _parse_project_id(token: str) -> int:
    # Only the canonical spelling ("42", not "042" or "+42") so that a name has one spelling.
    if not (token.isascii() and token.isdigit()) or token.startswith("0"):
        raise SubjectError(f"project id must be a positive integer, got {token!r}")
    return int(token)


def _check_topic(topic: Any) -> Topic:
    try:
        return Topic(topic)
    except ValueError:
        raise SubjectError(f"unknown topic {topic!r}") from None


def check_event_type(event_type: Any) -> str:
    """Return `event_type` if it is usable as the tail of a subject (dots allowed)."""
    if not isinstance(event_type, str):
        raise SubjectError(f"event type must be a string, got {event_type!r}")
    for token in event_type.split("."):
        if not token:
            raise SubjectError(f"event type {event_type!r} has an empty token")
        if not _FORBIDDEN_TOKEN_CHARS.isdisjoint(token):
            raise SubjectError(f"event type {event_type!r} contains whitespace or a wildcard")
    return event_type


def subject(project_id: int, topic: Topic | str, event_type: str) -> str:
    """`space.<project_id>.<topic>.<event_type>`, e.g. `space.42.analysis_runs.run_started`."""
    project_id = _check_project_id(project_id)
    topic = _check_topic(topic)
    return f"{SPACE}.{project_id}.{topic}.{check_event_type(event_type)}"


@dataclass(frozen=True)
class SubjectParts:
    project_id: int
    topic: Topic
    event_type: str

    def __str__(self) -> str:
        return subject(self.project_id, self.topic, self.event_type)


def parse_subject(value: str) -> SubjectParts:
    """Split a concrete event subject into its parts; wildcard subjects are rejected."""
    if not isinstance(value, str):
        raise SubjectError(f"subject must be a string, got {value!r}")
    tokens = value.split(".", 3)
    if len(tokens) != 4 or tokens[0] != SPACE:
        raise SubjectError(f"not an event subject: {value!r}")
    _, project_token, topic_token, event_type = tokens
    return SubjectParts(
        project_id=_parse_project_id(project_token),
        topic=_check_topic(topic_token),
        event_type=check_event_type(event_type),
    )


def space_filter(project_id: int | None = None, topic: Topic | str | None = None) -> str:
    """Wildcard subject for a project and/or topic; None for either part means "any"."""
    project_token = "*" if project_id is None else str(_check_project_id(project_id))
    if topic is None:
        return STREAM_SUBJECT if project_id is None else f"{SPACE}.{project_token}.>"
    return f"{SPACE}.{project_token}.{_check_topic(topic)}.>"


@dataclass(frozen=True)
class ClientTopic:
    """A WebSocket subscription target: one topic of a space, or all of them (topic None)."""

    project_id: int
    topic: Topic | None

    def __post_init__(self) -> None:
        _check_project_id(self.project_id)
        if self.topic is not None:
            # Accept the plain string value too, normalised to the enum member.
            object.__setattr__(self, "topic", _check_topic(self.topic))

    def __str__(self) -> str:
        topic = ALL_TOPICS if self.topic is None else str(self.topic)
        return f"{SPACE}:{self.project_id}:{topic}"

    @property
    def nats_filter(self) -> str:
        """The NATS subject filter that delivers exactly this client topic's events."""
        return space_filter(self.project_id, self.topic)

    def covers(self, parts: SubjectParts) -> bool:
        """True if an event with these subject parts belongs to this client topic."""
        return parts.project_id == self.project_id and self.topic in (None, parts.topic)


def client_topic(project_id: int, topic: Topic | str | None) -> str:
    """`space:42:messages`, or `space:42:*` when topic is None."""
    return str(ClientTopic(project_id, _check_topic(topic) if topic is not None else None))


def parse_client_topic(value: str) -> ClientTopic:
    """Parse `space:<project_id>:<topic>` or `space:<project_id>:*`."""
    if not isinstance(value, str):
        raise SubjectError(f"topic must be a string, got {value!r}")
    parts = value.split(":")
    if len(parts) != 3 or parts[0] != SPACE:
        raise SubjectError(f"topic must look like 'space:<project_id>:<topic>', got {value!r}")
    _, project_token, topic_token = parts
    topic = None if topic_token == ALL_TOPICS else _check_topic(topic_token)
    return ClientTopic(_parse_project_id(project_token), topic)


def client_topic_of_subject(value: str) -> str:
    """`space.42.messages.message.updated` → `space:42:messages`."""
    parts = parse_subject(value)
    return client_topic(parts.project_id, parts.topic)

"""Base class of every event payload (the envelope's `data`)."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from tasktracker.contracts.subjects import Topic


class EventPayload(BaseModel):
    """A typed event body. Subclasses set `topic` and `event_type` as plain class attributes;
    together they are the registry key and the envelope's `topic` / `type`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[Topic]
    event_type: ClassVar[str]

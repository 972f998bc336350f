"""Events of the `messages` topic, published by ingestion."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.primitives import Count, NonEmptyStr, ProjectId, UtcDatetime
from tasktracker.contracts.subjects import Topic


class MessageAuthor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: int | None = None  # ingestion's user row, if the author is known
    telegram_user_id: int | None = None
    display_name: str
    username: str | None = None
    is_bot: bool = False


class MessageRecord(BaseModel):
    """A chat message as ingestion stores it; other services keep read models of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int  # ingestion's row id: the id every other service cites
    project_id: ProjectId
    chat_id: int
    message_id: int  # Telegram's id, unique within the chat
    update_id: int | None = None
    author: MessageAuthor
    text: str
    kind: MessageKind
    sent_at: UtcDatetime
    edited_at: UtcDatetime | None = None
    reply_to_message_id: int | None = None
    forwarded_from: str | None = None


class MessageUpdated(EventPayload):
    """A message was created or edited; carries the whole message, so consumers upsert."""

    topic = Topic.messages
    event_type = "message.updated"

    message: MessageRecord
    # True when the message came from a chat history import (a Telegram Desktop export), not
    # from the live chat: consumers store it like any other; the gateway does not relay it to
    # browsers live (they get `ingestion.import_progress` and reload over REST).
    imported: bool = False


class ImportProgress(EventPayload):
    """A chat history import started, advanced (about every tenth of it) or ended. A few per
    import, so that a browser can follow it without a line per imported message."""

    topic = Topic.messages
    event_type = "ingestion.import_progress"

    import_id: int
    chat_id: int
    status: Literal["running", "completed", "failed"]
    total: Count  # messages in the export
    read: Count  # messages read so far
    stored: Count  # new messages, or newer versions of known ones
    unchanged: Count  # already stored as new or newer (a repeated import, a webhook edit)
    skipped: Count  # service messages and media without text
    errors: Count  # messages that could not be read (no id, no date...)


class ChatBound(EventPayload):
    """A Telegram chat was bound to the project (by a code posted in it, or by a global admin).
    Its `released_parked` parked updates follow as `message.updated`, in Telegram's order."""

    topic = Topic.messages
    event_type = "ingestion.chat_bound"

    chat_id: int
    released_parked: Count


class ChatUnbound(EventPayload):
    """A Telegram chat was unbound from the project; its later updates are parked again."""

    topic = Topic.messages
    event_type = "ingestion.chat_unbound"

    chat_id: int


class ProjectSettings(BaseModel):
    """The per-project rules other services follow (analysis batching, DESIGN.md §4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_gap_minutes: int = Field(ge=1, le=1440)
    batch_max_messages: int = Field(ge=1, le=1000)
    analysis_concurrency: int = Field(ge=1, le=16)


class ProjectConfigured(EventPayload):
    """A project was created or its name or settings changed; carries the whole state, so
    consumers keep a read model by upserting (the project registry lives in ingestion)."""

    topic = Topic.messages
    event_type = "ingestion.project_configured"

    name: NonEmptyStr
    settings: ProjectSettings


MESSAGES_EVENTS: tuple[type[EventPayload], ...] = (
    MessageUpdated,
    ImportProgress,
    ChatBound,
    ChatUnbound,
    ProjectConfigured,
)

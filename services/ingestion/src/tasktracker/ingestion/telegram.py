"""The few parts of a Telegram update ingestion reads, as lenient models of our own. Pure.

Only the fields the product stores are declared; everything else is ignored (`extra="ignore"`),
so a field, an update kind or a union tag that a newer Bot API adds never makes an update
unreadable. What is declared is checked strictly enough to be stored as it is: ids are JSON
integers within 64 bits, dates are Unix seconds, texts are strings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from tasktracker.ingestion.storable import INT64_MAX, INT64_MIN

Id = Annotated[int, Strict(), Field(ge=INT64_MIN, le=INT64_MAX)]
UnixSeconds = Annotated[int, Strict()]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class TgUser(_Lenient):
    id: Id
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class TgChat(_Lenient):
    id: Id
    type: str = ""
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def full_name(self) -> str:
        if self.title:
            return self.title
        names = " ".join(part for part in (self.first_name, self.last_name) if part)
        return names or self.username or f"chat {self.id}"


class TgRepliedMessage(_Lenient):
    message_id: Id
    forum_topic_created: dict[str, Any] | None = None


class TgMessage(_Lenient):
    """A message, edited message, channel post or edited channel post."""

    message_id: Id
    date: UnixSeconds
    chat: TgChat
    from_user: TgUser | None = Field(default=None, alias="from")
    sender_chat: TgChat | None = None
    author_signature: str | None = None
    text: str | None = None
    caption: str | None = None
    edit_date: UnixSeconds | None = None
    reply_to_message: TgRepliedMessage | None = None
    is_topic_message: bool = False


class TgForwardOrigin(_Lenient):
    """`forward_origin` of any `type`, known or not: each field that names someone is read if
    present. Read on its own, so a surprise here never makes the message unusable."""

    type: str | None = None
    sender_user: TgUser | None = None
    sender_user_name: str | None = None
    sender_chat: TgChat | None = None
    chat: TgChat | None = None
    author_signature: str | None = None


class TgLegacyForward(_Lenient):
    """The forward fields Bot API 7.0 replaced by `forward_origin`."""

    forward_from: TgUser | None = None
    forward_from_chat: TgChat | None = None
    forward_sender_name: str | None = None
    forward_signature: str | None = None

"""Telegram updates turned into the messages ingestion stores. Pure: no I/O.

The one place an update is parsed (the worker, and the release of parked updates). It never
raises: an update is a chat message to store (`IncomingMessage`), a kind ingestion doesn't store
(`IgnoredUpdate`), or a message whose essential fields are missing or can't be stored
(`UnusableUpdate`, with the reason). Only the fields the product uses are read, by our own
lenient models (`telegram.py`): the Bot API grows every few months, and an update a pinned
library doesn't know yet must not be lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from tasktracker.contracts.enums import MessageKind
from tasktracker.ingestion.storable import int_problem
from tasktracker.ingestion.telegram import (
    TgChat,
    TgForwardOrigin,
    TgLegacyForward,
    TgMessage,
    TgUser,
)

MESSAGE_UPDATE_KINDS = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post"}
)

# Content a person sent, by the key that carries it, in the order they are checked: an
# animation also carries `document`, a venue also carries `location`.
_CONTENT_KINDS: tuple[tuple[str, MessageKind], ...] = (
    ("text", MessageKind.text),
    ("animation", MessageKind.animation),
    ("photo", MessageKind.photo),
    ("live_photo", MessageKind.photo),
    ("video", MessageKind.video),
    ("video_note", MessageKind.video),
    ("voice", MessageKind.voice),
    ("audio", MessageKind.audio),
    ("document", MessageKind.document),
    ("sticker", MessageKind.sticker),
    ("venue", MessageKind.location),
    ("location", MessageKind.location),
    ("contact", MessageKind.contact),
    ("poll", MessageKind.poll),
)

# Content a person sent that has no kind of its own.
_OTHER_CONTENT = frozenset(
    {"dice", "game", "story", "paid_media", "invoice", "giveaway", "giveaway_winners", "checklist"}
)

# Keys every message may carry besides its content; a message with none of the known content
# keys and nothing beyond these is something Telegram did (a member joined, a title changed...).
_ENVELOPE_KEYS = frozenset(
    {
        "message_id", "message_thread_id", "direct_messages_topic", "from", "sender_chat",
        "sender_boost_count", "sender_business_bot", "sender_tag", "date", "business_connection_id",
        "chat", "forward_origin", "forward_from", "forward_from_chat", "forward_from_message_id",
        "forward_signature", "forward_sender_name", "forward_date", "is_topic_message",
        "is_automatic_forward", "reply_to_message", "external_reply", "quote", "reply_to_story",
        "reply_to_checklist_task_id", "via_bot", "edit_date", "has_protected_content",
        "is_from_offline", "is_paid_post", "media_group_id", "author_signature", "paid_star_count",
        "text", "entities", "link_preview_options", "suggested_post_info", "effect_id",
        "caption", "caption_entities", "show_caption_above_media", "has_media_spoiler",
        "reply_markup", "views", "is_ephemeral",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TelegramProfile:
    """A Telegram account as an update shows it; stored as a user and its profile."""

    telegram_user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    is_bot: bool
    is_premium: bool

    @property
    def display_name(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return name or self.username or f"user {self.telegram_user_id}"


@dataclass(frozen=True)
class Author:
    """Who a message is from: a person (`profile`), or a chat posting as itself."""

    display_name: str
    username: str | None
    is_bot: bool
    profile: TelegramProfile | None = None
    sender_chat_id: int | None = None


@dataclass(frozen=True)
class IncomingMessage:
    update_id: int | None  # None: from a history import (`export.py`), no update carried it
    update_kind: str
    chat_id: int
    chat_title: str | None
    message_id: int
    kind: MessageKind
    text: str
    sent_at: datetime
    edited_at: datetime | None
    reply_to_message_id: int | None
    forwarded_from: str | None
    author: Author


@dataclass(frozen=True)
class IgnoredUpdate:
    """An update of a kind ingestion doesn't store (reactions, member changes, new kinds...)."""

    update_id: int
    update_kind: str


@dataclass(frozen=True)
class UnusableUpdate:
    """An update that can't be stored as what it is (a message without a chat, an id beyond
    64 bits...). Recorded as skipped with the reason: trying again could never succeed."""

    update_id: int
    update_kind: str
    reason: str


ParsedUpdate = IncomingMessage | IgnoredUpdate | UnusableUpdate


def update_kind(payload: Mapping[str, Any]) -> str:
    """The update's kind: its one field besides `update_id`, known to us or not."""
    for name, value in payload.items():
        if name != "update_id" and value is not None:
            return name
    return "unknown"


def normalize_update(payload: Mapping[str, Any]) -> ParsedUpdate:
    """What the update (a JSON object with an integer `update_id`) is for ingestion."""
    update_id = payload["update_id"]
    kind = update_kind(payload)
    if (problem := int_problem(update_id)) is not None:
        return UnusableUpdate(update_id, kind, f"update_id {problem}")
    if kind not in MESSAGE_UPDATE_KINDS:
        return IgnoredUpdate(update_id, kind)
    raw = payload[kind]
    if not isinstance(raw, Mapping):
        return UnusableUpdate(update_id, kind, f"{kind} is not an object")
    try:
        message = TgMessage.model_validate(raw)
    except ValidationError as exc:
        return UnusableUpdate(update_id, kind, _first_error(kind, exc))
    sent_at = _time(message.date)
    if sent_at is None:
        return UnusableUpdate(update_id, kind, f"{kind}.date is not a Unix time")
    edited_at = None
    if kind.startswith("edited_") and message.edit_date is not None:
        edited_at = _time(message.edit_date)
        if edited_at is None:
            return UnusableUpdate(update_id, kind, f"{kind}.edit_date is not a Unix time")
    return IncomingMessage(
        update_id=update_id,
        update_kind=kind,
        chat_id=message.chat.id,
        chat_title=message.chat.full_name if message.chat.type != "private" else None,
        message_id=message.message_id,
        kind=message_kind(raw),
        text=message.text or message.caption or "",
        sent_at=sent_at,
        edited_at=edited_at,
        reply_to_message_id=_reply_to(message),
        forwarded_from=_forwarded_from(raw),
        author=_author(message),
    )


def message_kind(message: Mapping[str, Any]) -> MessageKind:
    """The kind of content, from the keys present (new content types need no library)."""
    for key, kind in _CONTENT_KINDS:
        if message.get(key) is not None:
            return kind
    keys = {key for key, value in message.items() if value is not None}
    if keys & _OTHER_CONTENT or "caption" in keys:
        return MessageKind.other
    # Telegram adds service messages far more often than content types: a key we don't know
    # on a message without text or caption is taken for one.
    return MessageKind.service if keys - _ENVELOPE_KEYS else MessageKind.other


def _first_error(kind: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in (kind, *error["loc"]))
    return f"{where}: {error['msg']}"


def _time(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _reply_to(message: TgMessage) -> int | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    # In forum groups every message of a topic "replies" to the topic's creation message.
    if message.is_topic_message and replied.forum_topic_created is not None:
        return None
    return replied.message_id


def _forwarded_from(raw: Mapping[str, Any]) -> str | None:
    """Best effort: who a forward came from, for any `forward_origin` type, else None."""
    try:
        origin = raw.get("forward_origin")
        if isinstance(origin, Mapping):
            return _origin_name(TgForwardOrigin.model_validate(origin))
        legacy = TgLegacyForward.model_validate(raw)
    except ValidationError:
        return None
    if legacy.forward_from is not None:
        return _person_name(legacy.forward_from)
    if legacy.forward_from_chat is not None:
        return _signed(legacy.forward_from_chat.full_name, legacy.forward_signature)
    return legacy.forward_sender_name


def _origin_name(origin: TgForwardOrigin) -> str | None:
    if origin.sender_user is not None:
        return _person_name(origin.sender_user)
    if origin.sender_user_name:
        return origin.sender_user_name
    chat = origin.sender_chat or origin.chat
    if chat is not None:
        return _signed(chat.full_name, origin.author_signature)
    return None


def _author(message: TgMessage) -> Author:
    # A channel post, an anonymous group admin or a linked channel speaks as a chat; its
    # `from` (if any) is a placeholder bot account, not the person.
    if message.sender_chat is not None or message.from_user is None:
        chat: TgChat = message.sender_chat or message.chat
        return Author(
            display_name=_signed(chat.full_name, message.author_signature),
            username=chat.username,
            is_bot=False,
            sender_chat_id=chat.id,
        )
    user = message.from_user
    profile = TelegramProfile(
        telegram_user_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
        is_bot=user.is_bot,
        is_premium=user.is_premium,
    )
    return Author(
        display_name=profile.display_name,
        username=user.username,
        is_bot=user.is_bot,
        profile=profile,
    )


def _person_name(user: TgUser) -> str:
    name = user.full_name or f"user {user.id}"
    return f"{name} (@{user.username})" if user.username else name


def _signed(name: str, signature: str | None) -> str:
    return f"{name} ({signature})" if signature else name

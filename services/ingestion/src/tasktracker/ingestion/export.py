"""Telegram Desktop chat exports (`result.json`) read as the messages ingestion stores. Pure.

An export names its chat (`name`, `type`, `id`) and lists `messages`. The export's chat id is
the bare MTProto id; the Bot API (what the webhook sees, what chats are bound by) writes
supergroups and channels as `-100<id>`, basic groups as `-<id>`, and users as they are —
`bot_api_chat_id` is that mapping. Authors: `from_id` `user123` is Telegram user 123 (the same
user the webhook stores), `channel456` / `chat456` a chat posting as itself. `text` is a string
or a list of plain strings and entity parts (`{"type": "bold", "text": ...}`), flattened.

A message becomes an `IncomingMessage` with no update id (`update_id=None`); a service message
or one without text (a photo without caption, a sticker) is skipped, with why; one that can't
be read (no integer id, no date) is an error, with why. Never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasktracker.contracts.enums import MessageKind
from tasktracker.ingestion.domain import Author, IncomingMessage, TelegramProfile
from tasktracker.ingestion.storable import int_problem, storable_document

# Export chat types → how the Bot API writes their ids.
_SUPERGROUP_OR_CHANNEL = frozenset(
    {"private_supergroup", "public_supergroup", "private_channel", "public_channel"}
)
_BASIC_GROUP = frozenset({"private_group"})
_USER = frozenset({"personal_chat", "bot_chat", "saved_messages"})
CHAT_TYPES = _SUPERGROUP_OR_CHANNEL | _BASIC_GROUP | _USER

# `media_type` of a `file` → our kind; a `file` without one is a document.
_MEDIA_KINDS = {
    "sticker": MessageKind.sticker,
    "animation": MessageKind.animation,
    "video_file": MessageKind.video,
    "video_message": MessageKind.video,
    "voice_message": MessageKind.voice,
    "audio_file": MessageKind.audio,
}
_OTHER_KINDS = (
    ("location_information", MessageKind.location),
    ("venue", MessageKind.location),
    ("contact_information", MessageKind.contact),
    ("poll", MessageKind.poll),
    ("game_title", MessageKind.other),
    ("invoice_information", MessageKind.other),
    ("dice", MessageKind.other),
    ("todo_list", MessageKind.other),
)


class NotAnExport(ValueError):
    """The document is JSON but not a Telegram Desktop chat export."""


@dataclass(frozen=True)
class ExportChat:
    chat_id: int  # as the Bot API writes it
    export_id: int  # as the export writes it
    type: str
    title: str | None
    messages: list[Any]


@dataclass(frozen=True)
class Skipped:
    reason: str  # "service" or "no text"


@dataclass(frozen=True)
class Unreadable:
    reason: str


def bot_api_chat_id(chat_type: str, export_id: int) -> int:
    """The id the webhook sees for the export's chat."""
    if chat_type in _SUPERGROUP_OR_CHANNEL:
        return -(10**12 + export_id)  # "-100" followed by the id's digits
    if chat_type in _BASIC_GROUP:
        return -export_id
    return export_id


def read_export(document: Any) -> ExportChat:
    """The chat of a decoded export; raises `NotAnExport` with what is missing."""
    if not isinstance(document, Mapping):
        raise NotAnExport("an export is a JSON object")
    chat_type, export_id = document.get("type"), document.get("id")
    if "messages" not in document and isinstance(document.get("chats"), Mapping):
        raise NotAnExport("a whole-account export: export a single chat (its result.json)")
    if not isinstance(document.get("messages"), list):
        raise NotAnExport("no `messages` list")
    if type(export_id) is not int or export_id <= 0 or export_id >= 10**12:
        raise NotAnExport("no chat `id` (a positive integer)")
    if not isinstance(chat_type, str) or chat_type not in CHAT_TYPES:  # a dict is unhashable
        raise NotAnExport(f"chat `type` must be one of {sorted(CHAT_TYPES)}")
    name = document.get("name")
    return ExportChat(
        chat_id=bot_api_chat_id(chat_type, export_id),
        export_id=export_id,
        type=chat_type,
        title=storable_document(name) if isinstance(name, str) else None,
        messages=document["messages"],
    )


def flatten_text(text: Any) -> str:
    """An export's `text`: a string, or a list of strings and `{"type", "text"}` parts."""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        return ""
    parts = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def read_message(raw: Any, chat: ExportChat) -> IncomingMessage | Skipped | Unreadable:
    """One exported message (already made storable, see `storable_message`)."""
    if not isinstance(raw, Mapping):
        return Unreadable("not an object")
    message_id = raw.get("id")
    if type(message_id) is not int or int_problem(message_id) is not None:
        return Unreadable("no integer `id`")
    if raw.get("type") != "message":
        return Skipped("service")
    sent_at = _time(raw.get("date_unixtime"), raw.get("date"))
    if sent_at is None:
        return Unreadable(f"message {message_id}: no date")
    text = flatten_text(raw.get("text"))
    if not text.strip():
        return Skipped("no text")
    edited_at = _time(raw.get("edited_unixtime"), raw.get("edited"))
    author = _author(raw, chat)
    if author is None:
        return Unreadable(f"message {message_id}: `from_id` is not a user or chat id")
    reply_to = raw.get("reply_to_message_id")
    same_chat = raw.get("reply_to_peer_id") is None
    forwarded = raw.get("forwarded_from")
    return IncomingMessage(
        update_id=None,
        update_kind="message",
        chat_id=chat.chat_id,
        chat_title=chat.title,
        message_id=message_id,
        kind=message_kind(raw),
        text=text,
        sent_at=sent_at,
        edited_at=edited_at,
        reply_to_message_id=reply_to if _is_id(reply_to) and same_chat else None,
        forwarded_from=forwarded if isinstance(forwarded, str) else None,
        author=author,
    )


def storable_message(raw: Any) -> Any:
    """The message as it is stored in `raw` (NUL and unpaired surrogates replaced)."""
    return storable_document(raw)


def message_kind(raw: Mapping[str, Any]) -> MessageKind:
    if "photo" in raw:
        return MessageKind.photo
    if "file" in raw or "media_type" in raw:
        media_type = raw.get("media_type")  # any JSON value: a dict or list is unhashable
        return (
            _MEDIA_KINDS.get(media_type, MessageKind.document)
            if isinstance(media_type, str)
            else MessageKind.document
        )
    for key, kind in _OTHER_KINDS:
        if key in raw:
            return kind
    return MessageKind.text


def _author(raw: Mapping[str, Any], chat: ExportChat) -> Author | None:
    from_id, name = raw.get("from_id"), raw.get("from")
    name = name if isinstance(name, str) else None
    if not isinstance(from_id, str):
        # No author: a channel post of an old export speaks as the chat itself.
        return Author(display_name=chat.title or name or "", username=None, is_bot=False,
                      sender_chat_id=chat.chat_id)  # fmt: skip
    for prefix in ("user", "channel", "chat"):
        digits = from_id.removeprefix(prefix)
        if digits != from_id and digits.isdigit() and int_problem(int(digits)) is None:
            break
    else:
        return None
    if prefix == "user":
        profile = TelegramProfile(
            telegram_user_id=int(digits), first_name=name or "", last_name=None, username=None,
            language_code=None, is_bot=False, is_premium=False,
        )  # fmt: skip
        return Author(profile.display_name, None, False, profile=profile)
    kind = "private_channel" if prefix == "channel" else "private_group"
    signature = raw.get("author")
    display = name or chat.title or from_id
    if isinstance(signature, str) and signature:
        display = f"{display} ({signature})"
    return Author(display, None, False, sender_chat_id=bot_api_chat_id(kind, int(digits)))


def _is_id(value: Any) -> bool:
    return type(value) is int and int_problem(value) is None


def _time(unix: Any, iso: Any) -> datetime | None:
    """`date_unixtime` (a string of seconds in current exports), else `date` (local time of
    the exporting computer, no offset: read as UTC)."""
    try:
        if isinstance(unix, str | int) and not isinstance(unix, bool) and str(unix).isdigit():
            return datetime.fromtimestamp(int(unix), UTC)
        if isinstance(iso, str):
            parsed = datetime.fromisoformat(iso)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return None

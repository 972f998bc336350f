"""Telegram updates turned into the messages ingestion stores. Pure: no I/O.

The webhook and the worker parse updates with aiogram's typed `Update`; this module decides
what such an update means for us: a chat message to store (`IncomingMessage`) or an update
kind we acknowledge and count without storing (`IgnoredUpdate`). It also tells the webhook
whether the worker could store an update at all (`unstorable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram.enums import ContentType
from aiogram.types import Chat, Message, MessageOriginUnion, Update, User

from tasktracker.contracts.enums import MessageKind
from tasktracker.ingestion.storable import Unstorable, find_unstorable, int_problem, time_problem

MESSAGE_UPDATE_KINDS = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post"}
)

_KIND_OF_CONTENT: dict[str, MessageKind] = {
    ContentType.TEXT: MessageKind.text,
    ContentType.PHOTO: MessageKind.photo,
    ContentType.LIVE_PHOTO: MessageKind.photo,
    ContentType.VIDEO: MessageKind.video,
    ContentType.VIDEO_NOTE: MessageKind.video,
    ContentType.VOICE: MessageKind.voice,
    ContentType.AUDIO: MessageKind.audio,
    ContentType.DOCUMENT: MessageKind.document,
    ContentType.STICKER: MessageKind.sticker,
    ContentType.ANIMATION: MessageKind.animation,
    ContentType.LOCATION: MessageKind.location,
    ContentType.VENUE: MessageKind.location,
    ContentType.CONTACT: MessageKind.contact,
    ContentType.POLL: MessageKind.poll,
}

# Content a person sent that has no kind of its own; every other content type aiogram knows
# is something Telegram did (members joined, a title changed, a message was pinned...).
_OTHER_CONTENT = frozenset(
    {
        ContentType.UNKNOWN,
        ContentType.PAID_MEDIA,
        ContentType.STORY,
        ContentType.DICE,
        ContentType.GAME,
        ContentType.CHECKLIST,
        ContentType.INVOICE,
        ContentType.GIVEAWAY,
        ContentType.RICH_MESSAGE,
    }
)


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
    update_id: int
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
    update_id: int
    update_kind: str


class UnstorableUpdate(ValueError):
    """Normalising met a value the worker could not store (an edit date that is no time)."""

    def __init__(self, problem: Unstorable) -> None:
        super().__init__(problem.msg)
        self.problem = problem


def unstorable(payload: dict[str, Any], update: Update) -> Unstorable | None:
    """Why the worker could not store this update (it would fail on every try), or None.

    `payload` is the decoded JSON body, kept whole in `jsonb`; `update` is the same validated
    by aiogram, whose lax parsing can still yield column values out of range: a string of
    digits becomes an int, a date may be an ISO string with any offset.
    """
    problem = find_unstorable(payload)
    if problem is not None:
        return problem
    try:
        item = normalize_update(update)
    except UnstorableUpdate as exc:
        return exc.problem
    return _unstorable_columns(item)


def _unstorable_columns(item: IncomingMessage | IgnoredUpdate) -> Unstorable | None:
    """A value the worker writes to a column that the column can't hold; `loc` names the
    column under the update's kind."""
    if (problem := int_problem(item.update_id)) is not None:
        return Unstorable(("update_id",), "int64", f"update_id {problem}")
    ints: dict[str, int | None] = {}
    times: dict[str, datetime | None] = {}
    if isinstance(item, IncomingMessage):
        profile = item.author.profile
        ints |= {
            "chat_id": item.chat_id,
            "message_id": item.message_id,
            "reply_to_message_id": item.reply_to_message_id,
            "sender_chat_id": item.author.sender_chat_id,
            "telegram_user_id": profile.telegram_user_id if profile else None,
        }
        times = {"sent_at": item.sent_at, "edited_at": item.edited_at}
    for name, number in ints.items():
        if number is not None and (problem := int_problem(number)) is not None:
            return Unstorable((item.update_kind, name), "int64", f"{name} {problem}")
    for name, time in times.items():
        if time is not None and (problem := time_problem(time)) is not None:
            return Unstorable((item.update_kind, name), "time", f"{name} {problem}")
    return None


def update_kind(update: Update) -> str:
    """The update's kind (`message`, `callback_query`...), also for kinds aiogram doesn't know."""
    for name in Update.model_fields:
        if name != "update_id" and getattr(update, name) is not None:
            return name
    for name, value in (update.model_extra or {}).items():
        if value is not None:
            return name
    return "unknown"


def normalize_update(update: Update) -> IncomingMessage | IgnoredUpdate:
    kind = update_kind(update)
    message = getattr(update, kind, None) if kind in MESSAGE_UPDATE_KINDS else None
    if not isinstance(message, Message):
        return IgnoredUpdate(update_id=update.update_id, update_kind=kind)
    return IncomingMessage(
        update_id=update.update_id,
        update_kind=kind,
        chat_id=message.chat.id,
        chat_title=message.chat.full_name if message.chat.type != "private" else None,
        message_id=message.message_id,
        kind=message_kind(message),
        text=message.text or message.caption or "",
        sent_at=message.date,
        edited_at=_edited_at(kind, message) if kind.startswith("edited_") else None,
        reply_to_message_id=_reply_to(message),
        forwarded_from=_forwarded_from(message.forward_origin),
        author=_author(message),
    )


def message_kind(message: Message) -> MessageKind:
    content = message.content_type
    if content in _KIND_OF_CONTENT:
        return _KIND_OF_CONTENT[content]
    if content in _OTHER_CONTENT:
        return MessageKind.other
    return MessageKind.service


def _edited_at(kind: str, message: Message) -> datetime | None:
    edit_date = message.edit_date  # aiogram keeps it as Unix seconds, unlike `date`
    if edit_date is None or isinstance(edit_date, datetime):
        return edit_date
    try:
        return datetime.fromtimestamp(edit_date, UTC)
    except (OverflowError, OSError, ValueError):
        problem = Unstorable((kind, "edit_date"), "time", "edit_date is not a Unix time")
        raise UnstorableUpdate(problem) from None


def _reply_to(message: Message) -> int | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    # In forum groups every message of a topic "replies" to the topic's creation message.
    if message.is_topic_message and replied.forum_topic_created is not None:
        return None
    return replied.message_id


def _forwarded_from(origin: MessageOriginUnion | None) -> str | None:
    if origin is None:
        return None
    if origin.type == "user":
        return _person_name(origin.sender_user)
    if origin.type == "hidden_user":
        return origin.sender_user_name
    chat = origin.sender_chat if origin.type == "chat" else origin.chat
    return _signed(chat.full_name, origin.author_signature)


def _author(message: Message) -> Author:
    # A channel post, an anonymous group admin or a linked channel speaks as a chat; its
    # `from` (if any) is a placeholder bot account, not the person.
    if message.sender_chat is not None or message.from_user is None:
        chat: Chat = message.sender_chat or message.chat
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
        is_premium=bool(user.is_premium),
    )
    return Author(
        display_name=profile.display_name,
        username=user.username,
        is_bot=user.is_bot,
        profile=profile,
    )


def _person_name(user: User) -> str:
    return f"{user.full_name} (@{user.username})" if user.username else user.full_name


def _signed(name: str, signature: str | None) -> str:
    return f"{name} ({signature})" if signature else name

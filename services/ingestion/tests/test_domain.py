"""Unit tests: a Telegram update (a decoded JSON object) → what ingestion stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tasktracker.contracts.enums import MessageKind
from tasktracker.ingestion.domain import (
    IgnoredUpdate,
    IncomingMessage,
    UnusableUpdate,
    normalize_update,
    update_kind,
)

from .support import SAMPLES


def load(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def normalized(payload: dict) -> IncomingMessage:
    result = normalize_update(payload)
    assert isinstance(result, IncomingMessage)
    return result


def message_update(**message: object) -> dict:
    base = {
        "message_id": 10,
        "date": 1718000000,
        "chat": {"id": -1001, "type": "supergroup", "title": "Team"},
        "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
    }
    return {"update_id": 1, "message": {**base, **message}}


def test_text_message():
    msg = normalized(load("text"))
    assert msg.update_kind == "message"
    assert (msg.chat_id, msg.message_id, msg.update_id) == (-1001234567890, 1501, 871230001)
    assert msg.chat_title == "Acme Team"
    assert msg.kind is MessageKind.text
    assert msg.text == "@bob can you fix the login bug before Friday's release?"
    assert msg.sent_at == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    assert msg.edited_at is None
    assert msg.reply_to_message_id is None and msg.forwarded_from is None
    assert msg.author.display_name == "Alice Nguyen"
    assert msg.author.username == "alice_ng"
    profile = msg.author.profile
    assert profile is not None
    assert (profile.telegram_user_id, profile.first_name, profile.last_name) == (
        111111111,
        "Alice",
        "Nguyen",
    )
    assert profile.language_code == "en" and profile.is_premium and not profile.is_bot


def test_edited_message_carries_edit_date_as_utc_datetime():
    msg = normalized(load("edited"))
    assert msg.update_kind == "edited_message"
    assert msg.message_id == 1501
    assert msg.text.endswith("before Thursday's release?")
    assert msg.sent_at == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    assert msg.edited_at == datetime(2024, 6, 10, 6, 14, 20, tzinfo=UTC)


def test_reply_keeps_the_replied_message_id():
    msg = normalized(load("reply"))
    assert msg.reply_to_message_id == 1501
    assert msg.author.display_name == "Bob"


def test_forward_names_the_origin():
    assert normalized(load("forward")).forwarded_from == "Carol Diaz (@carol_qa)"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (
            {"type": "hidden_user", "date": 1, "sender_user_name": "Mystery Person"},
            "Mystery Person",
        ),
        (
            {
                "type": "channel",
                "date": 1,
                "message_id": 3,
                "chat": {"id": -100, "type": "channel", "title": "News"},
                "author_signature": "Ed",
            },
            "News (Ed)",
        ),
        (
            {"type": "chat", "date": 1, "sender_chat": {"id": -5, "type": "group", "title": "Ops"}},
            "Ops",
        ),
    ],
)
def test_forward_origins(origin, expected):
    assert normalized(message_update(text="fwd", forward_origin=origin)).forwarded_from == expected


def test_channel_post_speaks_as_the_channel_with_its_signature():
    msg = normalized(load("channel_post"))
    assert msg.update_kind == "channel_post"
    assert msg.author.profile is None
    assert msg.author.sender_chat_id == -1009876543210
    assert msg.author.display_name == "Acme Announcements (Dana Lee)"
    assert msg.author.username == "acme_news"


def test_edited_channel_post():
    msg = normalized(load("edited_channel_post"))
    assert msg.update_kind == "edited_channel_post"
    assert msg.edited_at == datetime.fromtimestamp(1718001500, UTC)
    assert "June 15" in msg.text


def test_photo_with_caption_uses_the_caption_as_text():
    msg = normalized(load("photo_caption"))
    assert msg.kind is MessageKind.photo
    assert msg.text.startswith("Screenshot of the Safari checkout error")


def test_sticker_without_text_is_stored_with_its_kind():
    msg = normalized(load("sticker"))
    assert (msg.kind, msg.text) == (MessageKind.sticker, "")


def test_service_message():
    msg = normalized(load("service_new_members"))
    assert (msg.kind, msg.text) == (MessageKind.service, "")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}}, MessageKind.voice),
        (
            {"video_note": {"file_id": "n", "file_unique_id": "n", "length": 240, "duration": 5}},
            MessageKind.video,
        ),
        ({"location": {"latitude": 52.5, "longitude": 13.4}}, MessageKind.location),
        ({"contact": {"phone_number": "+100", "first_name": "Zed"}}, MessageKind.contact),
        ({"dice": {"emoji": "🎲", "value": 4}}, MessageKind.other),
        (
            {
                "pinned_message": {
                    "message_id": 9,
                    "date": 0,
                    "chat": {"id": -1001, "type": "supergroup"},
                }
            },
            MessageKind.service,
        ),
        ({"new_chat_title": "Team 2"}, MessageKind.service),
    ],
)
def test_kinds(content, kind):
    assert normalized(message_update(**content)).kind is kind


def test_anonymous_group_admin_speaks_as_the_group():
    payload = message_update(
        text="announcement",
        sender_chat={"id": -1001, "type": "supergroup", "title": "Team"},
        **{
            "from": {
                "id": 1087968824,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }
        },
    )
    msg = normalized(payload)
    assert msg.author.profile is None
    assert msg.author.display_name == "Team"


def test_forum_topic_root_is_not_a_reply():
    root = {
        "message_id": 2,
        "date": 1718000000,
        "chat": {"id": -1001, "type": "supergroup", "title": "Team"},
        "forum_topic_created": {"name": "Release", "icon_color": 7322096},
    }
    msg = normalized(
        message_update(text="in a topic", is_topic_message=True, reply_to_message=root)
    )
    assert msg.reply_to_message_id is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [("my_chat_member", "my_chat_member"), ("unknown_kind", "message_story_reaction")],
)
def test_other_update_kinds_are_ignored(name, kind):
    result = normalize_update(load(name))
    assert isinstance(result, IgnoredUpdate)
    assert (result.update_kind, result.update_id) == (kind, load(name)["update_id"])


def test_update_kind_of_an_empty_update():
    assert update_kind({"update_id": 3}) == "unknown"
    assert normalize_update({"update_id": 3}) == IgnoredUpdate(3, "unknown")


def test_private_chat_has_no_title_and_profile_name_falls_back():
    payload = message_update(
        text="hi",
        chat={"id": 5, "type": "private", "first_name": "Ann"},
        **{"from": {"id": 5, "is_bot": False, "first_name": "", "username": "ann"}},
    )
    msg = normalized(payload)
    assert msg.chat_title is None
    assert msg.author.display_name == "ann"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        # Union tags the Bot API may add: whatever names someone is used, else nothing.
        ({"type": "bot_2031", "date": 1, "sender_user": {"id": 9, "first_name": "Zed"}}, "Zed"),
        (
            {"type": "story_2031", "date": 1, "chat": {"id": -7, "type": "channel", "title": "N"}},
            "N",
        ),
        ({"type": "story_2031", "date": 1, "story_id": 4}, None),
        ({"type": "user", "date": 1, "sender_user": {"id": "not an id"}}, None),
        ("not an object", None),
    ],
)
def test_forward_origin_of_unknown_or_odd_shape_is_best_effort(origin, expected):
    msg = normalized(message_update(text="fwd", forward_origin=origin))
    assert msg.forwarded_from == expected and msg.text == "fwd"


def test_forward_fields_before_forward_origin():
    legacy = {"forward_from": {"id": 3, "is_bot": False, "first_name": "Carol", "username": "c"}}
    assert normalized(message_update(text="x", **legacy)).forwarded_from == "Carol (@c)"
    signed = {"forward_from_chat": {"id": -5, "type": "channel", "title": "News"}}
    signed["forward_signature"] = "Ed"
    assert normalized(message_update(text="x", **signed)).forwarded_from == "News (Ed)"


def test_reply_to_a_message_with_fields_nobody_knows_yet():
    replied = {
        "message_id": 9,
        "date": 1718000000,
        "chat": {"id": -1001, "type": "supergroup", "title": "Team"},
        "forward_origin": {"type": "story_2031", "date": 1},
        "hologram": {"depth": 3},
    }
    assert normalized(message_update(text="re", reply_to_message=replied)).reply_to_message_id == 9


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ({"animation": {}, "document": {}}, MessageKind.animation),
        ({"venue": {}, "location": {}}, MessageKind.location),
        ({"checklist": {"title": "t", "tasks": []}}, MessageKind.other),
        ({"hologram": {"depth": 3}}, MessageKind.service),  # a key we don't know yet
        ({"hologram": {"depth": 3}, "caption": "look"}, MessageKind.other),
        ({"gift": {"star_count": 15}}, MessageKind.service),
        ({}, MessageKind.other),  # no content at all
    ],
)
def test_kind_from_the_keys_present(content, kind):
    assert normalized(message_update(**content)).kind is kind


def test_unknown_chat_type_is_stored():
    chat = {"id": -1001, "type": "guild_2031", "title": "Guild"}
    msg = normalized(message_update(text="hi", chat=chat))
    assert (msg.chat_id, msg.chat_title) == (-1001, "Guild")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"chat": None}, "message.chat"),
        ({"message_id": 2**63}, "message.message_id"),
        ({"message_id": "10"}, "message.message_id"),  # a string is no id
        ({"message_id": True}, "message.message_id"),  # nor is a bool
        ({"date": "2024-06-10T06:13:20Z"}, "message.date"),
        ({"date": 10**15}, "message.date"),
        ({"from": {"id": -(2**63) - 1, "first_name": "A"}}, "message.from.id"),
        ({"text": 5}, "message.text"),
        ({"reply_to_message": {"message_id": 2**64}}, "message.reply_to_message.message_id"),
    ],
)
def test_a_message_that_cannot_be_stored_as_it_is_is_unusable_with_the_reason(change, where):
    payload = message_update(text="x")
    payload["message"].update(change)
    result = normalize_update(payload)
    assert isinstance(result, UnusableUpdate)
    assert (result.update_id, result.update_kind) == (1, "message")
    assert result.reason.startswith(where)


def test_edit_date_that_is_no_time_is_unusable():
    payload = {"update_id": 4, "edited_message": load("edited")["edited_message"]}
    payload["edited_message"]["edit_date"] = 10**15
    result = normalize_update(payload)
    assert isinstance(result, UnusableUpdate)
    assert result.reason == "edited_message.edit_date is not a Unix time"


@pytest.mark.parametrize("update_id", [2**63, -(2**63) - 1, 10**40])
def test_update_id_beyond_64_bits_is_unusable_whatever_its_kind(update_id):
    for payload in ({**load("text"), "update_id": update_id}, {"update_id": update_id}):
        result = normalize_update(payload)
        assert isinstance(result, UnusableUpdate) and "update_id" in result.reason
        assert result.update_id == update_id


def test_a_message_update_that_is_no_object_is_unusable():
    result = normalize_update({"update_id": 5, "channel_post": "text"})
    assert result == UnusableUpdate(5, "channel_post", "channel_post is not an object")

"""The Telegram Desktop export parser (pure): chat ids, texts, kinds, authors, what is skipped."""

from __future__ import annotations

import pytest

from tasktracker.contracts.enums import MessageKind
from tasktracker.ingestion.domain import IncomingMessage
from tasktracker.ingestion.export import (
    NotAnExport,
    Skipped,
    Unreadable,
    bot_api_chat_id,
    flatten_text,
    read_export,
    read_message,
)
from tasktracker.ingestion.history import needs_repair
from tests.fixtures.telegram_export import generate_export


@pytest.mark.parametrize(
    ("chat_type", "export_id", "bot_api_id"),
    [
        ("private_supergroup", 1234567890, -1001234567890),
        ("public_supergroup", 1234567890, -1001234567890),
        ("private_channel", 777, -1000000000777),
        ("public_channel", 1234567890, -1001234567890),
        ("private_group", 456789, -456789),
        ("personal_chat", 111111111, 111111111),
        ("bot_chat", 222, 222),
    ],
)
def test_export_chat_ids_map_to_bot_api_ids(chat_type, export_id, bot_api_id):
    assert bot_api_chat_id(chat_type, export_id) == bot_api_id


def chat(**changes):
    return read_export({"name": "Acme", "type": "private_supergroup", "id": 42, "messages": []}
                       | changes)  # fmt: skip


@pytest.mark.parametrize(
    "document",
    [
        [1, 2],
        {"name": "x", "type": "private_supergroup", "id": 1},  # no messages
        {"type": "private_supergroup", "id": "1", "messages": []},
        {"type": "private_supergroup", "id": True, "messages": []},
        {"type": "galaxy", "id": 1, "messages": []},
        {"type": {}, "id": 72, "messages": []},  # found by the fuzzer: a 500, not a 400
        {"type": ["personal_chat"], "id": 72, "messages": []},
        {"about": {}, "chats": {"list": []}},  # a whole-account export
    ],
)
def test_what_is_not_an_export(document):
    with pytest.raises(NotAnExport):
        read_export(document)


def test_texts_are_flattened_from_entity_parts():
    parts = ["fix ", {"type": "bold", "text": "it"}, " ", {"type": "mention", "text": "@bob"}]
    assert flatten_text(parts) == "fix it @bob"
    assert flatten_text("plain") == "plain"
    assert flatten_text([{"type": "odd"}, 3, None, "x"]) == "x"
    assert flatten_text(None) == ""


def message(**fields):
    base = {"id": 7, "type": "message", "date": "2023-11-14T22:13:20",
            "date_unixtime": "1700000000", "from": "Alice Smith", "from_id": "user100001",
            "text": "hello"}  # fmt: skip
    return {**base, **fields}


def test_a_message_reads_as_the_webhook_would_store_it():
    item = read_message(
        message(reply_to_message_id=6, edited="x", edited_unixtime="1700000060"), chat()
    )
    assert isinstance(item, IncomingMessage)
    assert (item.chat_id, item.message_id, item.update_id) == (-1000000000042, 7, None)
    assert item.author.profile is not None
    assert item.author.profile.telegram_user_id == 100001
    assert item.author.display_name == "Alice Smith"
    assert item.reply_to_message_id == 6 and item.kind == MessageKind.text
    assert item.sent_at.timestamp() == 1700000000 and item.edited_at.timestamp() == 1700000060


def test_channel_posts_and_deleted_accounts():
    post = read_message(message(from_="x", from_id="channel42", author="Ann"), chat())
    assert isinstance(post, IncomingMessage) and post.author.profile is None
    assert post.author.sender_chat_id == -1000000000042
    deleted = read_message(message(**{"from": None}), chat())
    assert deleted.author.display_name == "user 100001"


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"photo": "photos/1.jpg"}, MessageKind.photo),
        ({"file": "a.pdf"}, MessageKind.document),
        ({"file": "v.ogg", "media_type": "voice_message"}, MessageKind.voice),
        ({"file": "v.mp4", "media_type": "video_file"}, MessageKind.video),
        ({"file": "v.bin", "media_type": {"odd": 1}}, MessageKind.document),
        ({"poll": {"question": "?"}}, MessageKind.poll),
        ({"location_information": {}}, MessageKind.location),
    ],
)
def test_media_with_a_caption_keeps_its_kind(fields, kind):
    assert read_message(message(**fields), chat()).kind == kind


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (message(type="service", action="pin_message", text=""), Skipped("service")),
        (message(file="s.webp", media_type="sticker", text=""), Skipped("no text")),
        (message(photo="p.jpg", text=[]), Skipped("no text")),
        (message(id="7"), Unreadable("no integer `id`")),
        (message(date_unixtime=None, date=None), Unreadable("message 7: no date")),
        ("not an object", Unreadable("not an object")),
    ],
)
def test_what_is_skipped_and_what_is_an_error(raw, outcome):
    assert read_message(raw, chat()) == outcome


def test_date_falls_back_to_the_iso_date_as_utc():
    item = read_message(message(date_unixtime=None), chat())
    assert item.sent_at.timestamp() == 1700000000


def test_the_generated_export_counts_add_up():
    export, counts = generate_export(200, export_id=5)
    parsed = read_export(export)
    outcomes = [read_message(m, parsed) for m in parsed.messages]
    assert sum(isinstance(o, IncomingMessage) for o in outcomes) == counts.stored
    assert sum(isinstance(o, Skipped) for o in outcomes) == counts.skipped


def test_only_files_with_unstorable_escapes_are_repaired_message_by_message():
    assert needs_repair(rb'{"text": "a\u0000b"}')
    assert needs_repair(rb'{"text": "\ud800 lone"}')
    assert not needs_repair('{"text": "caf\u00e9 \u2014 ok, 😀 as UTF-8"}'.encode())
    assert chat(name="Ac\x00me").title == "Ac\ufffdme"

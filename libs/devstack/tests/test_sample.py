"""The demo chat becomes Telegram `message` updates of the demo chat, as the Bot API sends
them (ingestion reads them with its own lenient models; no Telegram library needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasktracker.devstack.sample import fresh_update, sample_chat_id, telegram_updates

SAMPLE = Path(__file__).parents[3] / "deploy" / "local" / "sample_chat.json"


def test_every_sample_line_is_a_telegram_message_update_of_the_demo_chat():
    updates = telegram_updates(SAMPLE)
    assert len(updates) == 20
    assert all(set(u) == {"update_id", "message"} for u in updates)
    messages = [u["message"] for u in updates]
    assert {m["chat"]["id"] for m in messages} == {sample_chat_id(SAMPLE)}
    assert all(type(m["from"]["id"]) is int and m["from"]["first_name"] for m in messages)
    assert all(type(m["message_id"]) is int and m["text"] for m in messages)
    assert len({u["update_id"] for u in updates}) == len(updates)
    sent = [m["date"] for m in messages]
    assert all(type(date) is int for date in sent) and sent == sorted(sent)


def test_fresh_update_uses_new_ids_and_the_named_speaker():
    first = fresh_update(SAMPLE, "boris", "on it")
    assert first["message"]["from"]["username"] == "boris_dev"
    assert first["message"]["text"] == "on it"
    assert first["update_id"] not in {u["update_id"] for u in telegram_updates(SAMPLE)}


def test_unknown_speaker_is_refused():
    with pytest.raises(KeyError, match="not in the demo chat"):
        fresh_update(SAMPLE, "eve", "hi")

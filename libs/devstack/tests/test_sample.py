"""The demo chat becomes valid Telegram updates (checked with aiogram, as ingestion does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.types import Update

from tasktracker.devstack.sample import fresh_update, sample_chat_id, telegram_updates

SAMPLE = Path(__file__).parents[3] / "deploy" / "local" / "sample_chat.json"


def test_every_sample_line_is_a_telegram_message_update_of_the_demo_chat():
    updates = telegram_updates(SAMPLE)
    assert len(updates) == 20
    parsed = [Update.model_validate(u) for u in updates]
    assert {u.message.chat.id for u in parsed} == {sample_chat_id(SAMPLE)}
    assert len({u.update_id for u in parsed}) == len(parsed)
    sent = [u.message.date for u in parsed]
    assert sent == sorted(sent)


def test_fresh_update_uses_new_ids_and_the_named_speaker():
    first = Update.model_validate(fresh_update(SAMPLE, "boris", "on it"))
    assert first.message.from_user.username == "boris_dev"
    assert first.message.text == "on it"
    assert first.update_id not in {u["update_id"] for u in telegram_updates(SAMPLE)}


def test_unknown_speaker_is_refused():
    with pytest.raises(KeyError, match="not in the demo chat"):
        fresh_update(SAMPLE, "eve", "hi")

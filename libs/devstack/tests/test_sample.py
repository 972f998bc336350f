"""The demo chat: real Telegram Bot API updates of the demo chat (ingestion reads them with its
own lenient models; no Telegram library needed), built by a script kept in the repository."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasktracker.devstack.sample import fresh_update, sample_chat_id, telegram_updates
from tasktracker.devstack.sample_chat_build import build

SAMPLE = Path(__file__).parents[3] / "deploy" / "local" / "sample_week.json"
NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)


def messages(updates: list[dict]) -> list[dict]:
    return [u["message"] for u in updates if "message" in u]


def test_the_committed_sample_is_what_the_script_builds():
    assert json.loads(SAMPLE.read_text()) == json.loads(json.dumps(build()))


def test_a_week_of_team_chat_with_what_telegram_sends():
    updates = telegram_updates(SAMPLE, now=NOW)
    sent = messages(updates)
    assert len(sent) >= 300
    assert len({m["from"]["id"] for m in sent}) >= 6
    assert len({datetime.fromtimestamp(m["date"], UTC).date() for m in sent}) >= 5
    assert sum("reply_to_message" in m for m in sent) >= 10
    assert any("photo" in m and m["caption"] for m in sent)
    assert any("poll" in m and len(m["poll"]["options"]) >= 2 for m in sent)
    assert any("new_chat_members" in m for m in sent)
    edits = [u["edited_message"] for u in updates if "edited_message" in u]
    assert edits and all(e["edit_date"] > e["date"] for e in edits)
    texts = [m.get("text", "") for m in sent]
    for needle in ("Bug:", "Decision:", "please", "by tomorrow", "drop Apple Pay", "runbook"):
        assert any(needle in text for text in texts), needle
    assert sum("status page runbook" in t for t in texts) >= 2  # the task asked twice


def test_every_update_is_of_the_demo_chat_with_unique_ids_in_time_order():
    updates = telegram_updates(SAMPLE, now=NOW)
    assert all(len(u) == 2 and "update_id" in u for u in updates)
    assert len({u["update_id"] for u in updates}) == len(updates)
    sent = messages(updates)
    assert {m["chat"]["id"] for m in sent} == {sample_chat_id(SAMPLE)}
    assert Counter(m["message_id"] for m in sent).most_common(1)[0][1] == 1
    dates = [m["date"] for m in sent]
    assert dates == sorted(dates)


def test_dates_move_by_whole_weeks_into_the_past_week():
    original = messages(json.loads(SAMPLE.read_text())["updates"])
    moved = messages(telegram_updates(SAMPLE, now=NOW))
    last = datetime.fromtimestamp(moved[-1]["date"], UTC)
    assert NOW - timedelta(days=7) < last <= NOW
    shift = moved[0]["date"] - original[0]["date"]
    assert shift % (7 * 24 * 3600) == 0
    replies = [m for m in moved if "reply_to_message" in m]
    assert all(r["reply_to_message"]["date"] <= r["date"] for r in replies)


def test_fresh_update_uses_new_ids_and_the_named_speaker():
    first = fresh_update(SAMPLE, "boris", "on it")
    assert first["message"]["from"]["username"] == "boris_dev"
    assert first["message"]["text"] == "on it"
    assert first["update_id"] not in {u["update_id"] for u in telegram_updates(SAMPLE)}


def test_unknown_speaker_is_refused():
    with pytest.raises(KeyError, match="not in the demo chat"):
        fresh_update(SAMPLE, "eve", "hi")


def test_an_edit_is_made_by_the_author_of_the_message_it_edits():
    script = """
    DAY 1
    09:00 anna: [#ask] @boris please fix the footer
    09:01 boris: [#promise] [>ask] I'll fix it today
    09:05 boris: !edit promise: I'll fix it today, the CSS is wrong
    """
    edits = [u["edited_message"] for u in build(script)["updates"] if "edited_message" in u]
    assert [(e["message_id"], e["from"]["username"]) for e in edits] == [(2, "boris_dev")]
    with pytest.raises(ValueError, match="cannot edit 'ask'"):
        build(script.replace("!edit promise", "!edit ask"))


def test_the_sample_week_edits_only_its_speakers_own_messages():
    build()  # raises on an edit of someone else's message (the VAT promise once edited Anna's)

"""The demo chat, turned into real Telegram Bot API updates for the webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def telegram_updates(sample_file: Path, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The sample's Telegram updates, moved by whole weeks so that the last one lies in the
    past week (weekdays stay what the chat says: "ship on Friday" is still said on a Friday).
    The same file always gives the same update ids, so loading it twice changes nothing."""
    sample = json.loads(sample_file.read_text())
    updates = sample["updates"]
    now = now or datetime.now(UTC)
    last = max(_sent(update) for update in updates)
    weeks = (int(now.timestamp()) - last) // WEEK
    return [_moved(update, weeks * WEEK) for update in updates]


WEEK = 7 * 24 * 3600


def _sent(update: dict[str, Any]) -> int:
    message = update.get("message") or update["edited_message"]
    return message.get("edit_date", message["date"])


def _moved(update: dict[str, Any], seconds: int) -> dict[str, Any]:
    moved = json.loads(json.dumps(update))
    message = moved.get("message") or moved["edited_message"]
    for item in (message, message.get("reply_to_message")):
        for key in ("date", "edit_date"):
            if item is not None and key in item:
                item[key] += seconds
    return moved


def message_update(
    chat: dict[str, Any],
    person: dict[str, Any],
    text: str,
    *,
    update_id: int,
    message_id: int,
    sent: datetime,
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": int(sent.timestamp()),
            "chat": chat,
            "from": {"is_bot": False, **person},
            "text": text,
        },
    }


def fresh_update(sample_file: Path, who: str, text: str) -> dict[str, Any]:
    """A new message in the demo chat, with ids no earlier update used."""
    sample = json.loads(sample_file.read_text())
    if who not in sample["people"]:
        raise KeyError(f"{who!r} is not in the demo chat; choose from {sorted(sample['people'])}")
    now = datetime.now(UTC)
    unique = int(now.timestamp() * 1000) % 2_000_000_000
    return message_update(
        sample["chat"],
        sample["people"][who],
        text,
        update_id=unique,
        message_id=unique,
        sent=now,
    )


def sample_chat_id(sample_file: Path) -> int:
    return json.loads(sample_file.read_text())["chat"]["id"]

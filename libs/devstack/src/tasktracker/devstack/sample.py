"""The demo chat, turned into real Telegram Bot API updates for the webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def telegram_updates(sample_file: Path, *, start: datetime | None = None) -> list[dict[str, Any]]:
    """One `message` update per line of the sample; times relative to `start` (an hour ago)."""
    sample = json.loads(sample_file.read_text())
    start = start or datetime.now(UTC) - timedelta(hours=1)
    return [
        message_update(
            sample["chat"],
            sample["people"][who],
            text,
            update_id=900_000 + index,
            message_id=index,
            sent=start + timedelta(minutes=minute),
        )
        for index, (minute, who, text) in enumerate(sample["messages"], start=1)
    ]


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

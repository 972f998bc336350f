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
    chat = sample["chat"]
    updates = []
    for index, (minute, who, text) in enumerate(sample["messages"], start=1):
        person = sample["people"][who]
        sent = start + timedelta(minutes=minute)
        updates.append(
            {
                "update_id": 900_000 + index,
                "message": {
                    "message_id": index,
                    "date": int(sent.timestamp()),
                    "chat": chat,
                    "from": {"is_bot": False, **person},
                    "text": text,
                },
            }
        )
    return updates


def sample_chat_id(sample_file: Path) -> int:
    return json.loads(sample_file.read_text())["chat"]["id"]

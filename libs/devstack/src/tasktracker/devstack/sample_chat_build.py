"""Builds the demo chat (`deploy/local/sample_week.json`) from the script in
`sample_chat_script.py`: real Telegram Bot API updates, deterministic, no download.

    uv run python -m tasktracker.devstack.sample_chat_build > deploy/local/sample_week.json

A script line is `HH:MM who: text`, under a `DAY n` header (day 1 is FIRST_DAY). In the text:
`[#name]` names the message, `[>name]` makes it a reply to the named one; a text starting with
`!edit name: new text` edits the named message, `!photo: caption` is a photo with a caption,
`!poll: question | option | option…` a poll, `!join who` a member joining (a service message
of `who`, added by the speaker, or joining alone when the speaker is `who`).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from tasktracker.devstack.sample_chat_script import CHAT, PEOPLE, SCRIPT

FIRST_DAY = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday; the loader moves it by whole weeks
FIRST_UPDATE_ID = 910_000_000
_LINE = re.compile(r"^(\d\d):(\d\d) (\w+): (.*)$")
_NAME = re.compile(r"\[#(\w+)\]\s*")
_REPLY = re.compile(r"\[>(\w+)\]\s*")


def build(
    script: str = SCRIPT,
    *,
    chat: dict[str, Any] = CHAT,
    people_by_name: dict[str, dict[str, Any]] = PEOPLE,
    first_day: datetime = FIRST_DAY,
    first_update_id: int = FIRST_UPDATE_ID,
) -> dict[str, Any]:
    """The chat's updates; the defaults build the demo chat, other arguments another chat in
    the same line format (the eval's labelled chats)."""
    people = {who: {"is_bot": False, **person} for who, person in people_by_name.items()}
    updates: list[dict[str, Any]] = []
    named: dict[str, dict[str, Any]] = {}
    day = 0
    for raw in script.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("DAY "):
            day = int(line[4:]) - 1
            continue
        found = _LINE.match(line)
        if found is None:
            raise ValueError(f"not a script line: {line!r}")
        hours, minutes, who, text = found.groups()
        sent = first_day + timedelta(days=day, hours=int(hours), minutes=int(minutes))
        update_id = first_update_id + len(updates)
        if text.startswith("!edit "):
            name, new_text = text[6:].split(": ", 1)
            original = named[name]
            if original["from"]["id"] != people[who]["id"]:  # Telegram edits only your own
                raise ValueError(f"{who} cannot edit {name!r}, a message of another: {line!r}")
            edited = {**original, "text": new_text, "edit_date": int(sent.timestamp())}
            updates.append({"update_id": update_id, "edited_message": edited})
            continue
        message: dict[str, Any] = {
            "message_id": sum("message" in u for u in updates) + 1,
            "from": people[who],
            "chat": chat,
            "date": int(sent.timestamp()),
        }
        if reply := _REPLY.search(text):
            message["reply_to_message"] = _quoted(named[reply.group(1)])
            text = _REPLY.sub("", text)
        if name := _NAME.search(text):
            text = _NAME.sub("", text)
            named[name.group(1)] = message
        message.update(_content(text, who, people, update_id))
        updates.append({"update_id": update_id, "message": message})
    return {"chat": chat, "people": people_by_name, "updates": updates}


def _quoted(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _content(text: str, who: str, people: dict[str, Any], update_id: int) -> dict[str, Any]:
    if text.startswith("!photo: "):
        return {"photo": _photo_sizes(update_id), "caption": text[8:]}
    if text.startswith("!poll: "):
        question, *options = (part.strip() for part in text[7:].split("|"))
        return {"poll": _poll(update_id, question, options)}
    if text.startswith("!join "):
        joined = people[text[6:].strip()]
        return {
            "new_chat_participant": joined,
            "new_chat_member": joined,
            "new_chat_members": [joined],
        }
    return {"text": text}


def _photo_sizes(update_id: int) -> list[dict[str, Any]]:
    return [
        {
            "file_id": f"AgACAgIAAxkBAAI{update_id}{size}",
            "file_unique_id": f"AQAD{update_id}{size}",
            "file_size": size * 48,
            "width": size,
            "height": size * 9 // 16,
        }
        for size in (90, 320, 1280)
    ]


def _poll(update_id: int, question: str, options: list[str]) -> dict[str, Any]:
    return {
        "id": str(5_000_000_000 + update_id),
        "question": question,
        "options": [{"text": option, "voter_count": 0} for option in options],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": False,
        "type": "regular",
        "allows_multiple_answers": False,
    }


def main() -> None:
    json.dump(build(), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""A labelled chat: Telegram updates read as the services see them, and the hand labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from eval.scoring import Group, LabelledTask

CHATS = Path(__file__).parent / "chats"


@dataclass(frozen=True)
class Message:
    id: int  # the Telegram message id: the labels cite it
    author: str  # the display name, as ingestion stores it
    username: str | None
    text: str
    sent_at: datetime
    reply_to: int | None


@dataclass(frozen=True)
class Labels:
    tasks: list[LabelledTask]
    cancelled: list[LabelledTask]
    topics: list[Group]
    atoms: list[Group]


@dataclass(frozen=True)
class LabelledChat:
    name: str
    messages: list[Message]
    labels: Labels

    @property
    def members(self) -> list[str]:
        return sorted({m.username for m in self.messages if m.username})


def load(labels_path: Path) -> LabelledChat:
    raw = yaml.safe_load(labels_path.read_text())
    chat_path = (labels_path.parent / raw["chat"]).resolve()
    updates = json.loads(chat_path.read_text())["updates"]
    return LabelledChat(
        name=labels_path.name.removesuffix(".labels.yaml"),
        messages=messages(updates),
        labels=Labels(
            tasks=[_task(t) for t in raw.get("tasks", [])],
            cancelled=[_task(t) for t in raw.get("cancelled", [])],
            topics=[Group(t["name"], frozenset(t["messages"])) for t in raw.get("topics", [])],
            atoms=[
                Group(a["title"], frozenset(a["messages"]), a["kind"]) for a in raw.get("atoms", [])
            ],
        ),
    )


def all_chats() -> list[LabelledChat]:
    return [load(path) for path in sorted(CHATS.glob("*.labels.yaml"))]


def _task(raw: dict[str, Any]) -> LabelledTask:
    due = raw.get("due")
    return LabelledTask(
        id=raw["id"],
        title=raw["title"],
        messages=frozenset(raw["messages"]),
        also=tuple(raw.get("also", ())),
        assignee=raw.get("assignee"),
        due=due if isinstance(due, date) else None,
    )


def messages(updates: list[dict[str, Any]]) -> list[Message]:
    """Text messages in time order, an edit replacing the text it edits (as ingestion keeps the
    latest version); service messages and polls carry no text and are left out, as the
    services leave them out."""
    by_id: dict[int, Message] = {}
    for update in updates:
        edited = "edited_message" in update
        raw = update.get("edited_message") or update.get("message")
        if raw is None:
            continue
        text = raw.get("text") or raw.get("caption") or ""
        if edited and raw["message_id"] in by_id:
            by_id[raw["message_id"]] = _with_text(by_id[raw["message_id"]], text)
            continue
        if not text.strip():
            continue
        sender = raw["from"]
        name = " ".join(p for p in (sender.get("first_name"), sender.get("last_name")) if p)
        by_id[raw["message_id"]] = Message(
            id=raw["message_id"],
            author=name,
            username=sender.get("username"),
            text=text,
            sent_at=datetime.fromtimestamp(raw["date"], tz=UTC),
            reply_to=(raw.get("reply_to_message") or {}).get("message_id"),
        )
    return sorted(by_id.values(), key=lambda m: (m.sent_at, m.id))


def _with_text(message: Message, text: str) -> Message:
    return Message(
        message.id, message.author, message.username, text, message.sent_at, message.reply_to
    )

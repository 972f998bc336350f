"""What becomes of an update, decided inside the caller's one transaction.

An update is stored into the project its chat is bound to (message, user, profile and the
`message.updated` event together), parked when the chat is bound to no project, or skipped
and counted when it is of a kind ingestion doesn't store. Binding a chat releases its parked
updates into the project in the same transaction as the binding; unbinding stages
`ingestion.chat_unbound` in its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import ChatBound, ChatUnbound, MessageUpdated
from tasktracker.ingestion.db import messages, parked, projects
from tasktracker.ingestion.db.models import ChatBinding, outbox
from tasktracker.ingestion.domain import IgnoredUpdate, IncomingMessage, normalize_update
from tasktracker.servicekit.outbox import Outbox

OUTBOX = Outbox(outbox, producer="ingestion")


class Outcome(StrEnum):
    stored = "stored"  # a new message, or a newer version of one: message.updated staged
    unchanged = "unchanged"  # a repeat or an older version: nothing written
    parked = "parked"
    skipped = "skipped"


class ChatBoundElsewhere(Exception):
    """The chat is bound to another project."""


@dataclass(frozen=True)
class BindResult:
    binding: ChatBinding
    created: bool
    released_parked: int


async def ingest_update(session: AsyncSession, payload: dict[str, Any]) -> Outcome:
    item = normalize_update(Update.model_validate(payload))
    if isinstance(item, IgnoredUpdate):
        await parked.record_skipped(session, item.update_id, item.update_kind)
        return Outcome.skipped
    project_id = await projects.bound_project(session, item.chat_id)
    if project_id is None:
        # Checked again under the chat's lock, which binding takes too: an update is either
        # parked before the binding reads the parked ones, or sees the binding.
        await projects.lock_chat(session, item.chat_id)
        project_id = await projects.bound_project(session, item.chat_id)
    if project_id is None:
        await parked.park(session, item, payload)
        return Outcome.parked
    return await store_message(session, project_id, item, payload)


async def store_message(
    session: AsyncSession, project_id: int, item: IncomingMessage, payload: dict[str, Any]
) -> Outcome:
    user_id = await messages.upsert_author(session, item.author, item.edited_at or item.sent_at)
    row = await messages.upsert_message(session, project_id, item, user_id=user_id, raw=payload)
    if row is None:
        return Outcome.unchanged
    await OUTBOX.stage(
        session, MessageUpdated(message=messages.to_record(row)), project_id=project_id
    )
    return Outcome.stored


async def bind_chat(
    session: AsyncSession, *, project_id: int, chat_id: int, title: str | None, actor: str | None
) -> BindResult:
    """Bind the chat and ingest its parked updates, in order. Binding again is a no-op."""
    await projects.lock_chat(session, chat_id)
    binding = await projects.insert_binding(
        session, project_id=project_id, chat_id=chat_id, title=title, actor=actor
    )
    if binding is None:
        existing = await projects.get_binding(session, chat_id)
        if existing is None or existing.project_id != project_id:
            raise ChatBoundElsewhere(chat_id)
        return BindResult(existing, created=False, released_parked=0)
    waiting = await parked.waiting_for_chat(session, chat_id)
    for row in waiting:
        item = normalize_update(Update.model_validate(row.payload))
        if isinstance(item, IncomingMessage):
            await store_message(session, project_id, item, row.payload)
    await parked.mark_released(session, [row.id for row in waiting], project_id)
    await OUTBOX.stage(
        session, ChatBound(chat_id=chat_id, released_parked=len(waiting)), project_id=project_id
    )
    return BindResult(binding, created=True, released_parked=len(waiting))


async def unbind_chat(session: AsyncSession, *, project_id: int, chat_id: int) -> bool:
    """Unbind the chat from the project (later updates are parked); False if it wasn't bound."""
    await projects.lock_chat(session, chat_id)
    if not await projects.delete_binding(session, project_id, chat_id):
        return False
    await OUTBOX.stage(session, ChatUnbound(chat_id=chat_id), project_id=project_id)
    return True

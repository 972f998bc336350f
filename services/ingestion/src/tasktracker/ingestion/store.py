"""Storing one message into its project, with its `message.updated` event, in the caller's
transaction."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import MessageUpdated
from tasktracker.ingestion.db import messages
from tasktracker.ingestion.db.models import outbox
from tasktracker.ingestion.domain import IncomingMessage
from tasktracker.servicekit.outbox import Outbox

OUTBOX = Outbox(outbox, producer="ingestion")


class Outcome(StrEnum):
    stored = "stored"  # a new message, or a newer version of one: message.updated staged
    unchanged = "unchanged"  # a repeat or an older version: nothing written
    parked = "parked"
    skipped = "skipped"  # a kind ingestion doesn't store
    unusable = "unusable"  # a message that can't be stored as what it is: skipped, with why
    bound = "bound"  # a binding code: the chat is bound, the message is not content


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

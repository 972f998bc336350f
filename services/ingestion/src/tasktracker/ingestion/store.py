"""Storing messages into their projects, with their `message.updated` events, in the
caller's transaction: a batch at a time, with few statements (one upsert of the authors'
users, one of their profiles, one of the messages, one outbox insert)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

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
    superseded = "superseded"  # a newer version of it came in the same batch and was kept
    parked = "parked"
    skipped = "skipped"  # a kind ingestion doesn't store
    unusable = "unusable"  # a message that can't be stored as what it is: skipped, with why
    bound = "bound"  # a binding code: the chat is bound, the message is not content


# A message to store: (project_id, the parsed message, the update's JSON text as stored in
# `raw`, which jsonb must accept as it is).
ToStore = tuple[int, IncomingMessage, str]


async def store_message(
    session: AsyncSession, project_id: int, item: IncomingMessage, raw: str
) -> Outcome:
    return (await store_messages(session, [(project_id, item, raw)]))[0]


async def store_messages(session: AsyncSession, batch: Sequence[ToStore]) -> list[Outcome]:
    """Store each message (or its newer version); one outcome per item, in order.

    Versions of one message in the batch: only the newest is written (the others are
    `superseded` when it was, else `unchanged`), so the end state is the one storing them one
    by one gives. Events are staged in the order the updates came: a stored message's event
    takes the place of the update whose version was stored.
    """
    newest: dict[messages.MessageKey, int] = {}
    for position, entry in enumerate(batch):
        key, item = _key(entry), entry[1]
        kept = newest.get(key)
        if kept is None or messages.version(item) > messages.version(batch[kept][1]):
            newest[key] = position
    winners = sorted(newest.values())
    user_ids = await messages.upsert_authors(
        session,
        [
            (item.author.profile, item.edited_at or item.sent_at)
            for _, item, _ in batch
            if item.author.profile is not None
        ],
    )
    records = await messages.upsert_messages(
        session,
        [
            (project_id, item, _user_id(user_ids, item), payload)
            for project_id, item, payload in (batch[position] for position in winners)
        ],
    )
    events = [
        (MessageUpdated(message=records[key]), key[0])
        for key in sorted(newest, key=newest.__getitem__)
        if key in records
    ]
    await OUTBOX.stage_many(session, events)
    return [
        _outcome(key in records, newest[key] == position)
        for position, key in enumerate(_key(entry) for entry in batch)
    ]


def _key(entry: ToStore) -> messages.MessageKey:
    project_id, item, _ = entry
    return (project_id, item.chat_id, item.message_id)


def _outcome(written: bool, newest: bool) -> Outcome:
    if not written:
        return Outcome.unchanged
    return Outcome.stored if newest else Outcome.superseded


def _user_id(user_ids: dict[int, int], item: IncomingMessage) -> int | None:
    profile = item.author.profile
    return None if profile is None else user_ids[profile.telegram_user_id]

"""What becomes of updates, decided inside the caller's one transaction — a batch at a time.

An update is made storable (`storable_document`) and parsed once (`normalize_update`) by
`prepare`, in the worker that fetched it. A chat message is stored into the project its chat is
bound to (message, user, profile and the `message.updated` event together), parked when the
chat is bound to no project, or — when it posts a binding code — binds its chat and is not
stored. Other kinds, and messages that can't be stored as what they are, are recorded as
skipped with their kind (and reason).

A batch is handled in arrival order: messages are stored a run at a time with few statements
(`store_messages`), and a message posting a code is handled after the run before it is
stored and before the run after it is looked up, so the messages of a chat that it binds are
parked before it and stored after it, as one by one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion import bindcodes
from tasktracker.ingestion.binding import Release, bind_by_code
from tasktracker.ingestion.db import parked, projects
from tasktracker.ingestion.domain import (
    IgnoredUpdate,
    IncomingMessage,
    UnusableUpdate,
    normalize_update,
)
from tasktracker.ingestion.storable import storable_as_is, storable_document
from tasktracker.ingestion.store import Outcome, store_messages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedUpdate:
    """An update as stored (`payload`, repaired for jsonb) and what it is (`item`); `text`,
    the JSON text it was parsed from when jsonb takes that as it is (None: it doesn't, or
    there was none), is the same document in another spelling."""

    payload: dict[str, Any]
    item: IncomingMessage | IgnoredUpdate | UnusableUpdate
    text: str | None = field(default=None, compare=False)

    def stored_json(self) -> str:
        """The JSON text of `payload` for a jsonb column: the text received when it can be."""
        return self.text if self.text is not None else json.dumps(self.payload)


def prepare(update: bytes | str | dict[str, Any]) -> PreparedUpdate:
    """The webhook's body (UTF-8 bytes as received, or JSON text; a decoded dict is accepted
    too), parsed once. Pure."""
    if isinstance(update, bytes):
        update = update.decode("utf-8-sig")  # as the webhook checked it
    if isinstance(update, str):
        decoded = json.loads(update)
        if type(decoded) is dict and storable_as_is(update):
            # Stored from the text: no repair to make, and no json.dumps of it per row.
            return PreparedUpdate(decoded, normalize_update(decoded), update)
    else:
        decoded = update
    payload = storable_document(decoded)
    return PreparedUpdate(payload, normalize_update(payload))


async def ingest_update(
    session: AsyncSession, update: dict[str, Any] | str, *, release: Release
) -> Outcome:
    return (await ingest_batch(session, [prepare(update)], release=release))[0]


async def ingest_batch(
    session: AsyncSession, batch: Sequence[PreparedUpdate], *, release: Release
) -> list[Outcome]:
    """One outcome per update, in order."""
    outcomes: list[Outcome | None] = [None] * len(batch)
    run: list[int] = []  # positions of messages waiting to be stored together
    for position, update in enumerate(batch):
        item = update.item
        if isinstance(item, IgnoredUpdate):
            await parked.record_skipped(session, item.update_id, item.update_kind)
            outcomes[position] = Outcome.skipped
        elif isinstance(item, UnusableUpdate):
            log.warning("update %s not stored: %s", item.update_id, item.reason)
            await parked.record_skipped(session, item.update_id, item.update_kind, item.reason)
            outcomes[position] = Outcome.unusable
        else:
            code = bindcodes.code_in(item.text)
            if code is not None:
                await _store_run(session, batch, run, outcomes)
                run = []
                if outcome := await bind_by_code(session, item, code, release):
                    outcomes[position] = outcome
                    continue
            run.append(position)
    await _store_run(session, batch, run, outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


async def _store_run(
    session: AsyncSession,
    batch: Sequence[PreparedUpdate],
    run: list[int],
    outcomes: list[Outcome | None],
) -> None:
    """Store the messages of a run into their chats' projects, or park them."""
    if not run:
        return
    messages = [(position, batch[position]) for position in run]
    chats = {update.item.chat_id for _, update in messages}  # type: ignore[union-attr]
    bound = await projects.bound_projects(session, chats)
    if unbound := chats - bound.keys():
        # Checked again under the chats' locks, which binding takes too: an update is either
        # parked before the binding reads the parked ones, or sees the binding.
        await projects.lock_chats(session, unbound)
        bound |= await projects.bound_projects(session, unbound)
    to_store, to_park = [], []
    for position, update in messages:
        item = update.item
        assert isinstance(item, IncomingMessage)
        if item.chat_id in bound:
            to_store.append((position, (bound[item.chat_id], item, update.stored_json())))
        else:
            to_park.append((item, update.payload))
            outcomes[position] = Outcome.parked
    await parked.park_many(session, to_park)
    stored = await store_messages(session, [entry for _, entry in to_store])
    for (position, _), outcome in zip(to_store, stored, strict=True):
        outcomes[position] = outcome

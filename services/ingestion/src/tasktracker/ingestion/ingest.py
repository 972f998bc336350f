"""What becomes of an update, decided inside the caller's one transaction.

The update is made storable (`storable_document`) and parsed once (`normalize_update`). A chat
message is stored into the project its chat is bound to (message, user, profile and the
`message.updated` event together), parked when the chat is bound to no project, or — when it
posts a binding code — binds its chat and is not stored. Other kinds, and messages that can't
be stored as what they are, are recorded as skipped with their kind (and reason).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion import bindcodes
from tasktracker.ingestion.binding import Release, bind_by_code
from tasktracker.ingestion.db import parked, projects
from tasktracker.ingestion.domain import IgnoredUpdate, UnusableUpdate, normalize_update
from tasktracker.ingestion.storable import storable_document
from tasktracker.ingestion.store import Outcome, store_message

log = logging.getLogger(__name__)


async def ingest_update(
    session: AsyncSession, payload: dict[str, Any], *, release: Release
) -> Outcome:
    payload = storable_document(payload)
    item = normalize_update(payload)
    if isinstance(item, IgnoredUpdate):
        await parked.record_skipped(session, item.update_id, item.update_kind)
        return Outcome.skipped
    if isinstance(item, UnusableUpdate):
        log.warning("update %s not stored: %s", item.update_id, item.reason)
        await parked.record_skipped(session, item.update_id, item.update_kind, item.reason)
        return Outcome.unusable
    code = bindcodes.code_in(item.text)
    if code is not None and (outcome := await bind_by_code(session, item, code, release)):
        return outcome
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

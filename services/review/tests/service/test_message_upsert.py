"""The message read model's upsert at the largest batch a consumer fetches: one statement
(`unnest`), where a multi-row VALUES would pass seven parameters per message and exceed
asyncpg's 32,767."""

from __future__ import annotations

from sqlalchemy import func, select

from tasktracker.review.db import messages
from tasktracker.review.db.models import MessageRow
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit import db

from .support import message, message_id

LARGEST_BATCH = ReviewSettings.model_fields["events_batch_size"].metadata[-1].le


async def test_the_largest_batch_is_stored_and_an_older_version_changes_nothing(
    sessions, project_ids
):
    project = next(project_ids)
    originals = [message(project, message_id(), f"text {i}") for i in range(LARGEST_BATCH)]
    edited = [message(project, r.id, f"{r.text} (edited)", edited_minute=5) for r in originals[:10]]
    async with db.transaction(sessions) as session:
        changed = await messages.upsert_messages(session, [*edited, *originals])
    async with db.transaction(sessions) as session:
        unchanged = await messages.upsert_messages(session, originals[:10])  # redelivered

    async with db.transaction(sessions) as session:
        count = await session.scalar(
            select(func.count()).select_from(MessageRow).where(MessageRow.project_id == project)
        )
        first = await session.get(MessageRow, originals[0].id)
    assert (changed, unchanged, count) == (LARGEST_BATCH, 0, LARGEST_BATCH)
    assert first is not None and first.text == "text 0 (edited)"

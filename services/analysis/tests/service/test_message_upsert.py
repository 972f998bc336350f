"""The message read model's upsert at the largest batch a consumer fetches: one statement
(`unnest`), where a multi-row VALUES would pass ten parameters per message and exceed
asyncpg's 32,767."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tasktracker.analysis.db import read_models
from tasktracker.analysis.db.models import ChatMessage
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit import db

from .support import BASE_TIME, record

LARGEST_BATCH = AnalysisSettings.model_fields["consumer_batch_size"].metadata[-1].le


async def test_the_largest_batch_is_stored_and_an_older_version_changes_nothing(
    sessions, project_ids
):
    project = next(project_ids)
    originals = [record(project, f"message {i}", minute=i) for i in range(LARGEST_BATCH)]
    edited = [
        r.model_copy(update={"text": f"{r.text} (edited)", "edited_at": BASE_TIME + timedelta(1)})
        for r in originals[:10]
    ]
    async with db.transaction(sessions) as session:
        await read_models.upsert_messages(session, [*edited, *originals])  # older ones last
    async with db.transaction(sessions) as session:
        await read_models.upsert_messages(session, originals[:10])  # redelivered originals

    async with db.transaction(sessions) as session:
        count = await session.scalar(
            select(func.count()).select_from(ChatMessage).where(ChatMessage.project_id == project)
        )
        first = await session.get(ChatMessage, originals[0].id)
        last = await session.get(ChatMessage, originals[-1].id)
    assert count == LARGEST_BATCH
    assert first is not None and first.text == "message 0 (edited)"
    assert first.author_username == "anna" and first.author_telegram_id == 7
    assert last is not None and last.text == f"message {LARGEST_BATCH - 1}"

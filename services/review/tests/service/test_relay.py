"""The relay restarted between commit and publish: each decision's event is published once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from nats.js import JetStreamContext
from sqlalchemy import update

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.review.app import create_app
from tasktracker.review.db.models import outbox
from tasktracker.review.settings import ReviewSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.migrations import upgrade
from tasktracker.servicekit.relay import OutboxRelay
from tests.fixtures.clients import asgi_client
from tests.fixtures.jetstream import stream_messages

from ..conftest import MIGRATIONS
from .support import proposal, seed_run


async def relay_pass(js: JetStreamContext, url: str) -> int:
    """A freshly started relay's first pass (a restart)."""
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        return await OutboxRelay(database_url=url, js=js).publish_pending(conn)
    finally:
        await conn.close()


async def published(js: JetStreamContext, project: int) -> list[Envelope]:
    messages = await stream_messages(js, space_filter(project, Topic.proposals))
    return [Envelope.from_bytes(msg.data) for msg in messages]


async def test_each_decision_event_is_published_once_across_a_relay_restart(
    settings: ReviewSettings, js: JetStreamContext, database_factory, project_ids, session_id
) -> None:
    url = database_factory("review_relay")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    quiet = settings.model_copy(
        update={
            "database_url": url,
            "relay_enabled": False,  # the process dies after each commit, before publishing
            "runs_durable": f"review-relay-runs-{session_id}",
            "messages_durable": f"review-relay-messages-{session_id}",
            # only events from now: older runs' events on the shared stream (a withdrawal
            # rejects a proposal, staging a decision event) are no part of this test
            "events_since": datetime.now(UTC),
        }
    )
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    project = next(project_ids)
    items = [proposal(f"Relay item {n}") for n in range(20)]
    try:
        await seed_run(sessions, project, *items)
        async with asgi_client(create_app(quiet), headers={"X-Actor": "pm-anna"}) as client:
            answers = await asyncio.gather(
                *(
                    client.put(
                        f"/api/projects/{project}/proposals/{p.proposal_id}/reject",
                        json={"reason": "noise"},
                    )
                    for p in items
                )
            )
        assert {a.status_code for a in answers} == {200}
        assert await relay_pass(js, url) == 20
        # the relay published but died before marking the rows: the next one sends them again
        async with db.transaction(sessions) as session:
            await session.execute(update(outbox).values(published_at=None))
        assert await relay_pass(js, url) == 20
        assert await relay_pass(js, url) == 0
    finally:
        await engine.dispose()
    events = await published(js, project)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) == 20
    assert {uuid.UUID(e.data["proposal_id"]) for e in events} == {p.proposal_id for p in items}
    assert sorted(e.data["counters"]["pending"] for e in events) == list(range(20))

"""The read models fed through JetStream by the app's own consumers: redelivered and
out-of-order events change nothing twice; review's decisions move a run to reviewed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from tasktracker.analysis.db.models import ChatMessage, KnowledgeRow, ProjectSettingsRow
from tasktracker.contracts.events import (
    MessageUpdated,
    ProjectConfigured,
    ProjectSettings,
    ProposalApproved,
    RunCounters,
    TopicCreated,
    make_envelope,
)
from tasktracker.servicekit import db

from .support import BASE_TIME, create_run, eventually, publish, record, run_state, seed
from .test_execution import executor, proposals_of


async def test_messages_settings_and_knowledge_arrive_once(client, sessions, js, project_ids):
    project = next(project_ids)
    original = record(project, "Fix the login", minute=0)
    edited = original.model_copy(
        update={"text": "Fix the login page", "edited_at": BASE_TIME + timedelta(minutes=3)}
    )
    for payload in (MessageUpdated(message=edited), MessageUpdated(message=original)):
        await publish(js, payload, project, "ingestion")  # newest first: the old one loses
    newer = make_envelope(
        ProjectConfigured(
            name="p",
            settings=ProjectSettings(
                batch_gap_minutes=5, batch_max_messages=20, analysis_concurrency=3
            ),
        ),
        project_id=project,
        producer="ingestion",
        occurred_at=BASE_TIME + timedelta(hours=1),
    )
    older = make_envelope(
        ProjectConfigured(
            name="p",
            settings=ProjectSettings(
                batch_gap_minutes=10, batch_max_messages=50, analysis_concurrency=1
            ),
        ),
        project_id=project,
        producer="ingestion",
        occurred_at=BASE_TIME,
    )
    for envelope in (newer, older):
        await js.publish(envelope.subject, envelope.to_bytes())
    topic = TopicCreated(topic_id=1, name="Login", description="the login page")
    for _ in range(2):
        await publish(js, topic, project, "knowledge")

    async def stored():
        async with db.transaction(sessions) as session:
            message = await session.get(ChatMessage, original.id)
            settings = await session.get(ProjectSettingsRow, project)
            knowledge = (
                (
                    await session.execute(
                        select(KnowledgeRow).where(KnowledgeRow.project_id == project)
                    )
                )
                .scalars()
                .all()
            )
            return message, settings, knowledge

    message, settings, knowledge = await eventually(
        stored, lambda v: v[0] is not None and v[1] is not None and len(v[2]) == 1
    )
    assert message.text == "Fix the login page" and message.author_username == "anna"
    assert (settings.batch_gap_minutes, settings.analysis_concurrency) == (5, 3)
    assert [k.title for k in knowledge] == ["Login"]


async def test_the_last_decision_on_the_stream_moves_the_run_to_reviewed(
    client, sessions, settings, js, project_ids
):
    project = next(project_ids)
    await seed(sessions, project, 2)
    run = await create_run(client, project)
    await client.post(f"/api/projects/{project}/runs/{run['id']}/start")
    run_id = uuid.UUID(run["id"])
    assert await executor(sessions, settings).run(run_id, last_try=False) == "completed"
    proposals = await proposals_of(sessions, run_id)
    assert len(proposals) == 2
    for n, proposal in enumerate(proposals, start=1):
        event = ProposalApproved(
            proposal_id=proposal.id,
            run_id=run_id,
            decided_by="pm",
            edited=False,
            counters=RunCounters(total=2, pending=2 - n, approved=n, rejected=0, merged=0),
        )
        await publish(js, event, project, "review")
    state = await eventually(
        lambda: run_state(client, project, run_id), lambda s: s["status"] == "reviewed"
    )
    assert state["counters"]["approved"] == 2 and state["counters"]["pending"] == 0

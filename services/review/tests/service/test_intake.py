"""Analysis's events into review over real JetStream: proposals idempotent by id, tallies
grown by what was really new, run closes, merge suggestions, the message read model."""

from __future__ import annotations

import uuid

import httpx
from nats.js import JetStreamContext
from sqlalchemy import func, select

from tasktracker.review.db.models import MessageRow, ProposalRow

from .support import (
    closed,
    created,
    eventually,
    message,
    message_id,
    proposal,
    publish,
    publish_messages,
    run_row,
    tally,
)


async def proposals_of(sessions, run_id: uuid.UUID) -> list[ProposalRow]:
    async with sessions() as session:
        stmt = select(ProposalRow).where(ProposalRow.run_id == run_id).order_by(ProposalRow.title)
        return list((await session.execute(stmt)).scalars())


async def test_a_redelivered_proposals_created_stores_no_duplicates(
    client: httpx.AsyncClient, js: JetStreamContext, sessions, project_ids
) -> None:
    project, run_id = next(project_ids), uuid.uuid4()
    batch = created(run_id, proposal("Fix the login redirect"), proposal("Write the release notes"))
    later = created(run_id, proposal("Add webhook monitoring", batch_index=1))
    await publish(js, project, batch)
    await publish(js, project, batch)  # a redelivery (a new envelope: past the duplicate window)
    await publish(js, project, later)
    await publish(js, project, batch)
    found = await eventually(lambda: tally(sessions, run_id), lambda t: t and t["total"] >= 3)
    await publish(js, project, closed(run_id, 3))  # consumed after every copy above
    await eventually(lambda: run_row(sessions, run_id), lambda r: r.closed_at is not None)
    found = await tally(sessions, run_id)
    assert found == {"total": 3, "pending": 3, "approved": 0, "rejected": 0, "merged": 0}
    rows = await proposals_of(sessions, run_id)
    assert [r.title for r in rows] == [
        "Add webhook monitoring",
        "Fix the login redirect",
        "Write the release notes",
    ]
    assert {r.project_id for r in rows} == {project}


async def test_a_duplicate_inside_a_run_points_at_its_twin(
    client: httpx.AsyncClient, js: JetStreamContext, sessions, project_ids
) -> None:
    project, run_id = next(project_ids), uuid.uuid4()
    first = proposal("Fix the login redirect")
    twin = proposal("Fix login redirect bug", batch_index=1)
    other = proposal("Write the release notes", batch_index=1)
    await publish(js, project, created(run_id, first))
    await publish(js, project, created(run_id, twin, other))
    await eventually(lambda: tally(sessions, run_id), lambda t: t and t["total"] == 3)
    by_title = {r.title: r for r in await proposals_of(sessions, run_id)}
    assert by_title[twin.title].similar_proposal_id == first.proposal_id
    assert by_title[twin.title].similar_proposal_score >= 70
    assert by_title[other.title].similar_proposal_id is None
    assert by_title[first.title].similar_task_id is None


async def test_the_message_read_model_keeps_the_newest_version(
    client: httpx.AsyncClient, js: JetStreamContext, sessions, project_ids
) -> None:
    project = next(project_ids)
    edited, plain = message_id(), message_id()
    await publish_messages(
        js,
        message(project, edited, "v2", edited_minute=5),
        message(project, edited, "v1"),  # the older version, late
        message(project, plain, "hello"),
        message(project, plain, "hello"),  # a redelivery
    )

    async def texts() -> dict[int, str]:
        async with sessions() as session:
            rows = await session.execute(
                select(MessageRow.id, MessageRow.text).where(MessageRow.project_id == project)
            )
            return dict(rows.all())

    assert await eventually(texts, lambda t: len(t) == 2) == {edited: "v2", plain: "hello"}
    async with sessions() as session:
        count = select(func.count()).select_from(MessageRow).where(MessageRow.id == plain)
        assert (await session.execute(count)).scalar_one() == 1

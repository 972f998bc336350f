"""Analysis's events into review over real JetStream: proposals idempotent by id, tallies
grown by what was really new, run closes, merge suggestions, the message read model."""

from __future__ import annotations

import uuid

import httpx
from nats.js import JetStreamContext
from sqlalchemy import func, select

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import ProposalWithdrawal, TaskProposalsWithdrawn
from tasktracker.review.db.models import MessageRow, ProposalRow, outbox

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


async def test_a_withdrawn_pending_proposal_is_rejected_by_analysis_once_a_decided_one_stays(
    client: httpx.AsyncClient, js: JetStreamContext, sessions, project_ids
) -> None:
    """`proposals_withdrawn`: a later batch of the run called the work off. The pending
    proposal is rejected by `analysis` (with the messages as the reason and a `rejected`
    event); one the PM approved meanwhile stays approved; a redelivery changes nothing."""
    project, run_id = next(project_ids), uuid.uuid4()
    training, keys = proposal("Run the export training"), proposal("Rotate the signing keys")
    await publish(js, project, created(run_id, training, keys))
    await eventually(lambda: tally(sessions, run_id), lambda t: t and t["total"] == 2)
    approved = await client.put(f"/api/projects/{project}/proposals/{keys.proposal_id}/approve")
    assert approved.status_code == 200, approved.text
    withdrawn = TaskProposalsWithdrawn(
        run_id=run_id,
        batch_index=1,
        withdrawals=[
            ProposalWithdrawal(proposal_id=training.proposal_id, message_ids=[71, 72]),
            ProposalWithdrawal(proposal_id=keys.proposal_id, message_ids=[73]),
        ],
    )
    await publish(js, project, withdrawn)
    await publish(js, project, withdrawn)  # a redelivery
    await publish(js, project, closed(run_id, 2))  # consumed after both copies
    await eventually(lambda: run_row(sessions, run_id), lambda r: r.closed_at is not None)
    assert await tally(sessions, run_id) == {
        "total": 2,
        "pending": 0,
        "approved": 1,
        "rejected": 1,
        "merged": 0,
    }
    by_title = {r.title: r for r in await proposals_of(sessions, run_id)}
    rejected = by_title[training.title]
    assert (rejected.status, rejected.decided_by) == ("rejected", "analysis")
    assert rejected.reason == "withdrawn by analysis: called off in message(s) 71, 72"
    assert by_title[keys.title].status == "approved"
    async with sessions() as session:
        rows = await session.execute(
            select(outbox.c.payload).where(outbox.c.subject.like("%.proposals.rejected"))
        )
        events = [Envelope.from_bytes(payload) for (payload,) in rows]
    mine = [e for e in events if e.data["run_id"] == str(run_id)]
    assert [(e.data["proposal_id"], e.data["decided_by"]) for e in mine] == [
        (str(training.proposal_id), "analysis")
    ]

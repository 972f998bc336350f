"""The job's use case in-process with FunctionModel agents over real PostgreSQL: a whole run,
decisions → reviewed → close, cancel while running, a failing model, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select

from tasktracker.analysis.agent import build_agent, offline_task_rules_model
from tasktracker.analysis.db import read_models
from tasktracker.analysis.db.models import BatchRow, ProposalRow
from tasktracker.analysis.domain.proposals import TaskDraft, TaskProposals
from tasktracker.analysis.execute import Executor
from tasktracker.analysis.lifecycle import apply_decisions
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.contracts.events import ProposalApproved, ProposalRejected, RunCounters
from tasktracker.servicekit import db
from tasktracker.servicekit.llm import answer_with

from .support import create_run, record, run_state, seed, staged_events


def executor(sessions, settings, model=None) -> Executor:
    return Executor(
        sessions=sessions,
        agent=build_agent(settings, model or offline_task_rules_model()),
        limiter=RequestsPerMinute(None),
    )


async def started(client, project: int) -> uuid.UUID:
    run = await create_run(client, project)
    answer = await client.post(f"/api/projects/{project}/runs/{run['id']}/start")
    assert answer.status_code == 202, answer.text
    return uuid.UUID(run["id"])


async def proposals_of(sessions, run_id) -> list[ProposalRow]:
    async with db.transaction(sessions) as session:
        stmt = select(ProposalRow).where(ProposalRow.run_id == run_id)
        return list((await session.execute(stmt.order_by(ProposalRow.batch_index))).scalars())


async def test_a_whole_run_then_decisions_then_close(client, sessions, settings, project_ids):
    project = next(project_ids)
    await seed(sessions, project, 12, gap_every=5)  # batches of 5, 5, 2
    run_id = await started(client, project)
    assert await executor(sessions, settings).run(run_id, last_try=False) == "completed"

    state = await run_state(client, project, run_id)
    assert state["progress"] == {"batches_done": 3, "batches_total": 3}
    assert state["counters"]["proposals_total"] == 12 and state["model"] == "offline-task-rules"
    events = await staged_events(sessions, run_id)
    assert [e.type for e in events] == [
        "run_created",
        "run_started",
        *["proposals_created", "progress_updated"] * 3,
        "run_completed",
    ]
    assert [e.data["batch_index"] for e in events if e.type == "proposals_created"] == [0, 1, 2]
    assert events[1].data == {"run_id": str(run_id), "total_messages": 12, "total_batches": 3}
    first = events[2].data["proposals"][0]
    assert first["category"] == "bug" and first["reasoning"].startswith("offline rules")

    close = f"/api/projects/{project}/runs/{run_id}/close"
    proposals = await proposals_of(sessions, run_id)
    decisions = []
    for n, p in enumerate(proposals):
        counters = RunCounters(total=12, pending=11 - n, approved=n + 1, rejected=0, merged=0)
        if n == 0:
            decisions.append(
                ProposalRejected(
                    proposal_id=p.id, run_id=run_id, decided_by="pm", counters=counters
                )
            )
        else:
            decisions.append(
                ProposalApproved(
                    proposal_id=p.id,
                    run_id=run_id,
                    decided_by="pm",
                    edited=n == 1,
                    counters=counters,
                )
            )
    async with db.transaction(sessions) as session:
        await apply_decisions(session, decisions[:-1])
    pending = await client.put(close)
    assert pending.status_code == 400
    assert pending.json()["error"]["details"] == {"pending": 1}
    async with db.transaction(sessions) as session:  # the last one, twice: once counts
        await apply_decisions(session, decisions[-1:] * 2)
    assert (await run_state(client, project, run_id))["status"] == "reviewed"

    closed = await client.put(close, headers={"X-Actor": "pm"})
    assert closed.status_code == 200, closed.text
    metrics = closed.json()["metrics"]
    assert (metrics["total"], metrics["approved"], metrics["rejected"]) == (12, 11, 1)
    assert metrics["edited_before_approval"] == 1 and metrics["proposals_per_batch"] == 4.0
    assert metrics["mean_confidence_approved"] is not None
    types = [e.type for e in await staged_events(sessions, run_id)]
    assert types[-2:] == ["run_reviewed", "run_closed"]
    assert (await client.put(close)).status_code == 409


async def test_a_run_that_proposes_nothing_is_reviewed_at_once(
    client, sessions, settings, project_ids
):
    project = next(project_ids)  # no messages at all: an empty window
    run_id = await started(client, project)
    assert await executor(sessions, settings).run(run_id, last_try=False) == "reviewed"
    types = [e.type for e in await staged_events(sessions, run_id)]
    assert types == ["run_created", "run_started", "run_completed", "run_reviewed"]


async def test_ids_the_model_invents_are_dropped(client, sessions, settings, project_ids):
    project = next(project_ids)
    ids = await seed(sessions, project, 2)

    def inventive(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        task = TaskDraft(title="Do it", message_ids=[ids[0], 999_999_999_999, ids[1]])
        return answer_with(
            TaskProposals(tasks=[task, TaskDraft(title="x", message_ids=[1])]), info, "t"
        )

    run_id = await started(client, project)
    await executor(sessions, settings, FunctionModel(inventive)).run(run_id, last_try=False)
    [proposal] = await proposals_of(sessions, run_id)
    assert proposal.source_message_ids == ids


async def test_cancel_while_running_stops_at_the_next_batch_boundary(
    client, sessions, settings, project_ids
):
    project = next(project_ids)
    await seed(sessions, project, 4, gap_every=1)  # four batches of one
    run_id = await started(client, project)
    calls = 0

    async def cancels_during_second(messages: list[ModelMessage], info: AgentInfo):
        nonlocal calls
        calls += 1
        if calls == 2:
            answer = await client.post(f"/api/projects/{project}/runs/{run_id}/cancel")
            assert answer.status_code == 200
        return answer_with(TaskProposals(tasks=[]), info, "t")

    run = executor(sessions, settings, FunctionModel(cancels_during_second))
    assert await run.run(run_id, last_try=False) == "cancelled"
    state = await run_state(client, project, run_id)
    assert state["status"] == "cancelled" and state["progress"]["batches_done"] == 1
    assert calls == 2  # nothing after the boundary
    types = [e.type for e in await staged_events(sessions, run_id)]
    assert types[-1] == "run_cancelled" and types.count("proposals_created") == 1


async def test_a_model_that_keeps_failing_fails_the_run_with_the_reason(
    client, sessions, settings, project_ids
):
    project = next(project_ids)
    await seed(sessions, project, 3)

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model is down")

    run_id = await started(client, project)
    run = executor(sessions, settings, FunctionModel(broken))
    try:
        await run.run(run_id, last_try=False)
        raise AssertionError("a try before the last must raise for a retry")
    except RuntimeError:
        pass
    assert (await run_state(client, project, run_id))["status"] == "running"
    assert await run.run(run_id, last_try=True) == "failed"
    state = await run_state(client, project, run_id)
    assert state["status"] == "failed" and "the model is down" in state["error"]
    [failed] = [e for e in await staged_events(sessions, run_id) if e.type == "run_failed"]
    assert "the model is down" in failed.data["error"] and failed.data["batches_done"] == 0


async def test_concurrent_batches_keep_progress_and_events_exact(
    client, sessions, settings, project_ids
):
    project = next(project_ids)
    await seed(sessions, project, 40, gap_every=2, concurrency=4)  # 20 batches
    running = 0
    most = 0
    four_in_flight = asyncio.Event()

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 4:
            four_in_flight.set()
        # The first calls wait for each other (a fixed sleep let a loaded machine start them
        # too far apart to overlap); a bound below 4 shows as `most` < 4 after the deadline.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(four_in_flight.wait(), 10)
        running -= 1
        return answer_with(TaskProposals(tasks=[]), info, "t")

    run_id = await started(client, project)
    assert (
        await executor(sessions, settings, FunctionModel(slow)).run(run_id, last_try=False)
        == "reviewed"
    )
    assert most == 4  # bounded by the project's setting
    events = await staged_events(sessions, run_id)
    progress = [e.data["batches_done"] for e in events if e.type == "progress_updated"]
    assert progress == list(range(1, 21))
    batches = sorted(e.data["batch_index"] for e in events if e.type == "proposals_created")
    assert batches == list(range(20))
    async with db.transaction(sessions) as session:
        rows = (await session.execute(select(BatchRow).where(BatchRow.run_id == run_id))).all()
    assert len(rows) == 20


async def test_a_later_batch_restates_one_earlier_proposal_and_withdraws_another(
    client, sessions, settings, project_ids
):
    """Batch 1 is given batch 0's proposals as context: the offline rules answer the
    restatement with `same_as` (no second proposal) and the call-off as a withdrawal, which
    marks the earlier row and stages `proposals_withdrawn` with batch 1's commit."""
    project = next(project_ids)
    said = [
        (0, "Could you prototype a read replica for the reports database?"),
        (1, "Please rotate the signing keys on the billing API"),
        (30, "Let's not do the read replica for the reports database."),
        (31, "Please rotate the signing keys on the billing API today"),
    ]
    records = [record(project, text, minute=minute) for minute, text in said]
    async with db.transaction(sessions) as session:
        await read_models.upsert_messages(session, records)
    run_id = await started(client, project)
    assert await executor(sessions, settings).run(run_id, last_try=False) == "completed"

    rows = await proposals_of(sessions, run_id)
    assert [(r.batch_index, r.source_message_ids) for r in rows] == [
        (0, [records[0].id]),
        (0, [records[1].id]),
    ]
    replica, keys = rows
    assert (replica.withdrawn_in_batch, replica.withdrawn_by) == (1, [records[2].id])
    assert (keys.withdrawn_in_batch, keys.withdrawn_by) == (None, None)
    events = await staged_events(sessions, run_id)
    types = [e.type for e in events]
    assert types.index("proposals_withdrawn") > types.index("proposals_created")
    [withdrawn] = [e for e in events if e.type == "proposals_withdrawn"]
    assert withdrawn.data == {
        "run_id": str(run_id),
        "batch_index": 1,
        "withdrawals": [{"proposal_id": str(replica.id), "message_ids": [records[2].id]}],
    }
    created = [e.data for e in events if e.type == "proposals_created"]
    assert [len(c["proposals"]) for c in created] == [2, 0]

"""Extraction inside the service (the job's use case with FunctionModel agents) and review
through the HTTP API, over real PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import func, select

from tasktracker.knowledge.agent import build_agent, offline_rules_model
from tasktracker.knowledge.db import messages
from tasktracker.knowledge.db.models import ProposalRow, outbox
from tasktracker.knowledge.extract import run_extraction
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tests.fixtures.actor import assert_refuses_unsigned_callers

from .support import message_id, record

CHAT = [
    "Bug: the webhook fails under load with a 504",
    "Decision: we move the receipt email out of the webhook path",
    "We should add monitoring for the webhook queue",
    "Can someone review the accessibility fixes by Wednesday?",
    "The refund flow fails when the order has a gift card",
    "Let's not block Friday on gift card refunds",
    "Heads up: staging migration runs tonight at 22:00 UTC",
]


async def seed(sessions, project: int) -> list[int]:
    ids = [message_id() for _ in CHAT]
    async with db.transaction(sessions) as session:
        await messages.upsert_messages(
            session,
            [
                record(project, i, text, minute=n)
                for n, (i, text) in enumerate(zip(ids, CHAT, strict=True))
            ],
        )
    return ids


async def request(client: httpx.AsyncClient, project: int, ids: list[int]) -> uuid.UUID:
    answer = await client.post(
        f"/api/projects/{project}/knowledge/extract", json={"message_ids": ids}
    )
    assert answer.status_code == 202, answer.text
    return uuid.UUID(answer.json()["extraction_id"])


async def test_extract_requests_are_checked(
    client: httpx.AsyncClient, sessions, project_ids
) -> None:
    project, other = next(project_ids), next(project_ids)
    ids = await seed(sessions, project)
    base = f"/api/projects/{project}/knowledge/extract"
    for body in (
        {},
        {"message_ids": []},
        {"since": "2026-01-05T10:00:00Z", "until": "2026-01-05T09:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"},
    ):
        answer = await client.post(base, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "validation_error"
    foreign = await client.post(
        f"/api/projects/{other}/knowledge/extract", json={"message_ids": ids}
    )
    assert foreign.status_code == 422
    first = await request(client, project, ids)
    again = await client.post(
        base, json={"since": "2026-01-05T09:00:00Z", "until": "2026-01-05T09:03:00Z"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["details"]["extraction_id"] == str(first)


async def test_extraction_then_review(
    client: httpx.AsyncClient, settings: KnowledgeSettings, sessions, project_ids
) -> None:
    project = next(project_ids)
    ids = await seed(sessions, project)
    extraction = await request(client, project, ids)
    agent = build_agent(settings, offline_rules_model())
    status = await run_extraction(sessions, agent, extraction, last_try=True, max_messages=1000)
    assert status == "completed"
    state = (await client.get(f"/api/projects/{project}/knowledge/extractions/{extraction}")).json()
    assert (state["chunks_done"], state["chunks_total"], state["message_count"]) == (2, 2, 7)
    assert state["model"] == "offline-rules"
    page = (await client.get(f"/api/projects/{project}/knowledge/proposals?status=pending")).json()
    topics = [p for p in page["items"] if p["kind"] == "topic"]
    atoms = [p for p in page["items"] if p["kind"] != "topic"]
    assert topics and atoms
    names = [t["title"].casefold() for t in topics]
    assert len(names) == len(set(names))  # a twin in chunk 2 attached, not proposed again
    linked = next(a for a in atoms if a["topic_proposal_id"] is not None)

    base = f"/api/projects/{project}/knowledge/proposals"
    await assert_refuses_unsigned_callers(client, "POST", f"{base}/{linked['id']}/approve")
    approved = await client.post(f"{base}/{linked['id']}/approve", headers={"X-Actor": "pm"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["decided_by"] == "pm"  # the signed token's `sub`
    assert (await client.post(f"{base}/{linked['id']}/approve")).status_code == 409
    topic = (await client.get(f"/api/projects/{project}/knowledge/topics")).json()
    assert [t["proposal_id"] for t in topic] == [linked["topic_proposal_id"]]  # approved with it
    atom_list = (await client.get(f"/api/projects/{project}/knowledge/atoms")).json()
    assert atom_list[0]["topic_id"] == topic[0]["id"]
    assert atom_list[0]["source_message_ids"] == linked["source_message_ids"]

    other = next(a for a in atoms if a["id"] != linked["id"])
    assert (await client.post(f"{base}/{other['id']}/reject", json={})).status_code == 422
    elsewhere = next(project_ids)
    lost = await client.post(f"/api/projects/{elsewhere}/knowledge/proposals/{other['id']}/approve")
    assert lost.status_code == 404
    edited = await client.patch(f"{base}/{other['id']}", json={"title": "Renamed"})
    assert edited.json()["edited"] is True

    remaining = [a["id"] for a in atoms if a["id"] != linked["id"]]
    bulk = await client.post(f"{base}/approve", json={"ids": [*remaining, linked["id"]]})
    assert bulk.status_code == 409
    still = (await client.get(f"{base}?status=pending")).json()["items"]
    assert {p["id"] for p in still} >= set(remaining)  # nothing changed
    done = await client.post(f"{base}/reject", json={"ids": remaining, "reason": "noise"})
    assert done.status_code == 200 and all(p["status"] == "rejected" for p in done.json())


def chunk_model(fail_from_chunk: int | None, calls: list[int]) -> FunctionModel:
    """Cites an invented id and a topic named like the first chunk's in every chunk; fails
    (like a model that keeps failing) from chunk `fail_from_chunk` on."""

    def answer(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(len(calls))
        prompt = history[-1].parts[-1].content
        chunk_ids = [int(line.split('"id": ')[1].split(",")[0]) for line in prompt.splitlines()[1:]]
        if fail_from_chunk is not None and len(calls) > fail_from_chunk:
            raise RuntimeError("the model is down")
        output = {
            "topics": [{"name": " Webhook  TIMEOUT ", "message_ids": [*chunk_ids, 999_999]}],
            "atoms": [
                {
                    "kind": "problem",
                    "title": "x",
                    "topic_name": "webhook timeout",
                    "message_ids": chunk_ids[:1],
                },
                {"kind": "fact", "title": "invented", "message_ids": [999_999]},
            ],
        }
        return ModelResponse(parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=output)])

    return FunctionModel(answer, model_name="test-chunks")


async def count_proposals(sessions, extraction: uuid.UUID) -> tuple[int, int]:
    async with sessions() as session:
        query = (
            select(ProposalRow.kind, func.count())
            .where(ProposalRow.extraction_id == extraction)
            .group_by(ProposalRow.kind)
        )
        counts = dict((await session.execute(query)).all())
    return counts.get("topic", 0), counts.get("problem", 0) + counts.get("fact", 0)


async def test_killed_after_a_chunk_resumes_without_duplicates(
    client: httpx.AsyncClient, settings: KnowledgeSettings, sessions, project_ids
) -> None:
    project = next(project_ids)
    ids = await seed(sessions, project)
    extraction = await request(client, project, ids)
    calls: list[int] = []
    failing = build_agent(settings, chunk_model(1, calls))
    try:
        await run_extraction(sessions, failing, extraction, last_try=False, max_messages=1000)
    except Exception as error:
        assert "the model is down" in str(error)
    else:
        raise AssertionError("a failing chunk before the last try must raise for a retry")
    assert await count_proposals(sessions, extraction) == (1, 1)  # chunk 1 only
    calls.clear()
    good = build_agent(settings, chunk_model(None, calls))
    assert (
        await run_extraction(sessions, good, extraction, last_try=False, max_messages=1000)
        == "completed"
    )
    assert len(calls) == 1  # resumed at chunk 2
    assert await count_proposals(sessions, extraction) == (1, 2)  # twin attached, invented dropped
    async with sessions() as session:
        topic = (
            await session.execute(
                select(ProposalRow).where(
                    ProposalRow.extraction_id == extraction, ProposalRow.kind == "topic"
                )
            )
        ).scalar_one()
    assert sorted(topic.source_message_ids) == sorted(ids)  # 999_999 dropped, chunk 2 attached


async def test_a_model_that_keeps_failing_ends_in_extraction_failed(
    client: httpx.AsyncClient, settings: KnowledgeSettings, sessions, project_ids
) -> None:
    project = next(project_ids)
    ids = await seed(sessions, project)
    extraction = await request(client, project, ids)
    failing = build_agent(settings, chunk_model(1, []))
    status = await run_extraction(sessions, failing, extraction, last_try=True, max_messages=1000)
    assert status == "failed"
    state = (await client.get(f"/api/projects/{project}/knowledge/extractions/{extraction}")).json()
    assert state["status"] == "failed" and "the model is down" in state["error"]
    assert state["chunks_done"] == 1
    assert await count_proposals(sessions, extraction) == (1, 1)  # none from the failed chunk
    async with sessions() as session:
        subjects = (
            (
                await session.execute(
                    select(outbox.c.subject).where(outbox.c.subject.like(f"space.{project}.%"))
                )
            )
            .scalars()
            .all()
        )
    assert subjects[-1].endswith("extraction_failed")

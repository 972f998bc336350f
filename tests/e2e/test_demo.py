"""`make demo`'s flow (devstack/demo_flow.py) against the whole stack as real processes, over
the week of sample chat that `make run` loads: every proposal decided, the run closed, the
summary's figures those of the run."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from tasktracker.contracts.enums import Role
from tasktracker.devstack.demo import post_sample
from tasktracker.devstack.demo_flow import run_demo
from tasktracker.devstack.sample import sample_chat_id, telegram_updates

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).parents[2] / "deploy" / "local" / "sample_week.json"


async def test_demo_flow_over_the_sample_week(whole_stack):
    stack = whole_stack
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=20
    ) as root:
        project = (await root.post("/api/projects", json={"name": "e2e demo"})).json()["id"]
        bound = await root.post(
            "/api/ingestion/bindings",
            json={"project_id": project, "chat_id": sample_chat_id(SAMPLE)},
        )
        assert bound.status_code == 201, bound.text
        await post_sample(root, stack.webhook_secret, SAMPLE)
    sent = sum("message" in u for u in telegram_updates(SAMPLE))

    token = stack.token("demo-pm", {project: Role.pm})
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as pm:
        while (
            len((await pm.get(f"/api/projects/{project}/messages?limit=500")).json()["items"])
            < sent
        ):
            await asyncio.sleep(0.2)  # the ingestion worker stores the webhook's jobs later

    out = io.StringIO()
    try:
        summary, run_id = await run_demo(stack.gateway_url, token, project, out)
    finally:
        print(out.getvalue())
    assert summary.messages == sent
    assert summary.topics > 0 and summary.atoms > 0
    assert summary.proposals > 0
    assert sum(summary.decisions.values()) == summary.proposals
    m = summary.metrics
    assert (m["total"], m["approved"], m["rejected"], m["merged"]) == (
        summary.proposals,
        summary.decisions["approved"],
        summary.decisions["rejected"],
        summary.decisions["merged"],
    )
    text = out.getvalue()
    assert "progress_updated" in text and "batches" in text and "run_closed" in text
    print("\n".join(summary.lines(project, run_id)))

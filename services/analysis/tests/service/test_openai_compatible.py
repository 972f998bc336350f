"""The OpenAI-compatible path over real HTTP: the job's use case with the agent that
`llm_model` + `llm_base_url` build, against a local stand-in chat-completions server.

A canned tool call comes out as typed proposals (ids the model invented dropped, an assignee
who is not a member dropped); a garbage answer raises for a retry, and on the last try the run
is `failed` with the reason and `run_failed`."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from pydantic import SecretStr

from tasktracker.analysis.agent import build_agent
from tasktracker.analysis.execute import Executor
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.analysis.settings import AnalysisSettings

from .support import run_state, seed, staged_events
from .test_execution import proposals_of, started

INVENTED = 999_999_999_999
# what the stored reason must say of each garbage answer
REASONS = {
    "not-a-completion": "Invalid response from openai chat completions endpoint",
    "invalid-arguments": "priority",  # the field the model got wrong, not only "retries"
}


@dataclass
class StandIn:
    base_url: str
    answer: str  # "canned", "not-a-completion" or "invalid-arguments"
    requests: list[dict[str, Any]] = field(default_factory=list)


def batch_ids(body: dict[str, Any]) -> list[int]:
    """The message ids of the batch, read from the prompt as a model would see them."""
    prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    return [json.loads(row)["id"] for row in prompt.splitlines() if row.startswith('{"id"')]


def tool_call(body: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{len(body['messages'])}",
                            "type": "function",
                            "function": {
                                "name": body["tools"][0]["function"]["name"],
                                "arguments": json.dumps(arguments),
                            },
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def stand_in_app(server: StandIn) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict[str, Any]:
        body = await request.json()
        server.requests.append(body)
        if server.answer == "not-a-completion":
            return {"what": "is this"}
        if server.answer == "invalid-arguments":
            return tool_call(body, {"tasks": [{"title": "", "priority": "whenever"}]})
        first, second, *_ = batch_ids(body)
        task = {
            "title": "Fix the login timeout",
            "description": "The login page times out",
            "priority": "high",
            "category": "bug",
            "tags": ["login"],
            "assignee": "anna",
            "due_date": "2026-01-09",
            "message_ids": [first, INVENTED, second],
            "confidence": 0.8,
            "reasoning": "asked twice",
        }
        invented = {"title": "Ghost task", "assignee": "mallory", "message_ids": [INVENTED]}
        outsider = {"title": "Write the notes", "assignee": "mallory", "message_ids": [second]}
        return tool_call(body, {"tasks": [task, invented, outsider]})

    return app


@pytest.fixture(params=["canned", "not-a-completion", "invalid-arguments"])
async def stand_in(request: pytest.FixtureRequest) -> AsyncIterator[StandIn]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = StandIn(f"http://127.0.0.1:{port}/v1", request.param)
    config = uvicorn.Config(stand_in_app(server), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        if task.done():
            task.result()  # the server could not start: say why
        await asyncio.sleep(0.01)
    yield server
    running.should_exit = True
    await task


def over_http(sessions, settings: AnalysisSettings, base_url: str) -> Executor:
    remote = settings.model_copy(
        update={"llm_model": "stand-in", "llm_base_url": base_url, "llm_api_key": SecretStr("k")}
    )
    return Executor(sessions=sessions, agent=build_agent(remote), limiter=RequestsPerMinute(None))


async def test_a_run_over_an_openai_compatible_server(
    stand_in: StandIn, client, sessions, settings, project_ids
) -> None:
    project = next(project_ids)
    ids = await seed(sessions, project, 3)  # one batch
    run_id = await started(client, project)
    executor = over_http(sessions, settings, stand_in.base_url)

    if stand_in.answer == "canned":
        assert await executor.run(run_id, last_try=False) == "completed"
        [request] = stand_in.requests
        assert request["model"] == "stand-in" and batch_ids(request) == ids
        state = await run_state(client, project, run_id)
        assert state["model"] == "stand-in" and state["counters"]["proposals_total"] == 2
        fix, notes = await proposals_of(sessions, run_id)  # the ghost cited nothing real
        assert (fix.title, fix.priority, fix.category, fix.tags) == (
            "Fix the login timeout",
            "high",
            "bug",
            ["login"],
        )
        assert (fix.assignee, fix.due_date, fix.confidence) == ("anna", date(2026, 1, 9), 0.8)
        assert fix.source_message_ids == ids[:2]  # the invented id dropped
        assert (notes.source_message_ids, notes.assignee) == ([ids[1]], None)  # not a member
        return

    with pytest.raises(Exception) as first_try:  # raised for the job's retry, not a crash
        await executor.run(run_id, last_try=False)
    assert (await run_state(client, project, run_id))["status"] == "running"
    assert await executor.run(run_id, last_try=True) == "failed"
    state = await run_state(client, project, run_id)
    reason = f"{type(first_try.value).__name__}: "
    assert state["status"] == "failed" and state["error"].startswith(reason), state["error"]
    assert state["progress"]["batches_done"] == 0 and state["counters"]["proposals_total"] == 0
    [failed] = [e for e in await staged_events(sessions, run_id) if e.type == "run_failed"]
    assert failed.data["error"] == state["error"]
    assert REASONS[stand_in.answer] in state["error"], state["error"]

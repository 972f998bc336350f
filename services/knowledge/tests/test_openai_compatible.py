"""The OpenAI-compatible path over real HTTP, against a local stand-in chat-completions server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi import FastAPI, Request

from tasktracker.knowledge.agent import build_agent, extract_chunk
from tasktracker.knowledge.domain.extraction import ChatLine
from tasktracker.knowledge.settings import KnowledgeSettings

LINES = [ChatLine(id=7, author="Anna", text="Decision: ship on Friday", sent_at=datetime.now(UTC))]


def stand_in(garbage: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict:
        body = await request.json()
        tool = body["tools"][0]["function"]["name"]
        if garbage:
            return {"what": "is this"}
        arguments = {
            "topics": [{"name": "Release", "message_ids": [7]}],
            "atoms": [{"kind": "decision", "title": "Ship on Friday", "message_ids": [7, 8]}],
        }
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
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": tool, "arguments": json.dumps(arguments)},
                            }
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    return app


@pytest.fixture(params=[False, True], ids=["canned", "garbage"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, bool]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        stand_in(request.param), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1", request.param
    running.should_exit = True
    await task


async def test_openai_compatible_server(server: tuple[str, bool]) -> None:
    base_url, garbage = server
    settings = KnowledgeSettings(llm_model="stand-in", llm_base_url=base_url, llm_api_key="k")
    agent = build_agent(settings)
    if garbage:
        with pytest.raises(Exception) as failure:  # a clear error the job records, no crash
            await extract_chunk(agent, LINES)
        assert str(failure.value), failure.value
        print(f"\ngarbage answer -> {type(failure.value).__name__}: {failure.value}")
        return
    answer = await extract_chunk(agent, LINES)
    assert answer.topics[0].name == "Release"
    assert answer.atoms[0].message_ids == [7, 8]  # as the model said; the job drops 8

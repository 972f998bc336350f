"""A chat history import through the gateway, with every service as a real process: the
browser's socket sees the import's few `ingestion.import_progress` events and none of its
`message.updated` (withheld by the gateway), live messages still arrive, and the knowledge and
analysis read models hold every imported message."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tasktracker.contracts.enums import Role
from tasktracker.servicekit.db import asyncpg_dsn
from tests.fixtures.space_socket import SpaceSocket
from tests.fixtures.telegram_export import export_bytes, generate_export

pytestmark = pytest.mark.e2e

EXPORT_ID = 888_000_001  # a supergroup as the export names it...
CHAT = -(10**12 + EXPORT_ID)  # ...and as the Bot API does: -1000888000001


async def read_model_count(stack, service: str, project_id: int) -> int:
    dsn = asyncpg_dsn(stack.env[f"TT_{service.upper()}_DATABASE_URL"])
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM messages WHERE project_id = $1", project_id
        )
    finally:
        await conn.close()


async def test_an_import_is_followed_by_progress_not_a_line_per_message(whole_stack):
    stack = whole_stack
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ) as rest:
        project = (await rest.post("/api/projects", json={"name": "history"})).json()["id"]
        bound = await rest.post(
            "/api/ingestion/bindings", json={"project_id": project, "chat_id": CHAT}
        )
        assert bound.status_code == 201, bound.text
        export, expected = generate_export(400, export_id=EXPORT_ID)
        viewer = stack.token("vic", {project: Role.viewer})
        async with SpaceSocket(stack.ws_url, viewer, project) as socket:
            # A viewer may not import; the project's admin may.
            refused = await rest.post(
                f"/api/projects/{project}/imports",
                content=export_bytes(export),
                headers={"Authorization": f"Bearer {viewer}"},
            )
            assert refused.status_code == 403
            owner = stack.token("ada", {project: Role.admin})
            accepted = await rest.post(
                f"/api/projects/{project}/imports",
                content=export_bytes(export),
                headers={"Authorization": f"Bearer {owner}"},
            )
            assert accepted.status_code == 202, accepted.text
            import_id = accepted.json()["id"]
            await socket.wait_for(
                lambda s: s.of("ingestion.import_progress", status="completed"),
                what="import completed",
            )
            # Then a live message: it arrives, after the import's events.
            update = {
                "update_id": 9_100_001,
                "message": {
                    "message_id": 100_000, "date": int(time.time()),
                    "chat": {"id": CHAT, "type": "supergroup", "title": "Acme Team"},
                    "from": {"id": 100001, "is_bot": False, "first_name": "Alice"},
                    "text": "live after the import",
                },
            }  # fmt: skip
            hook = {"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret}
            sent = await rest.post("/webhook/telegram", json=update, headers=hook)
            assert sent.status_code == 200
            await socket.wait_for(lambda s: s.of("message.updated"), what="the live message")

        progress = socket.of("ingestion.import_progress", import_id=import_id)
        assert 1 <= len(progress) <= 12  # one per tenth at most (here one chunk: one event)
        assert progress[-1]["data"]["status"] == "completed"
        assert progress[-1]["data"]["stored"] == expected.stored
        [live] = socket.of("message.updated")
        assert live["data"]["message"]["text"] == "live after the import"
        assert live["data"]["imported"] is False

        state = (await rest.get(f"/api/projects/{project}/imports/{import_id}")).json()
        assert (state["status"], state["stored"]) == ("completed", expected.stored)
        page = await rest.get(f"/api/projects/{project}/messages", params={"limit": 500})
        assert len(page.json()["items"]) == expected.stored + 1

    # The read models consumed every imported message.updated.
    for service in ("knowledge", "analysis"):
        deadline = time.monotonic() + 60
        while await read_model_count(stack, service, project) < expected.stored + 1:
            assert time.monotonic() < deadline, f"{service}'s read model did not catch up"
            await asyncio.sleep(0.2)

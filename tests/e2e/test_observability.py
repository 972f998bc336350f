"""What an operator sees of the whole stack (real processes): every API and worker serves
Prometheus metrics that moved with the flow, and the JSON log lines carry the service and
never a message's text or the webhook secret."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tasktracker.contracts.enums import Role
from tests.fixtures.full_stack import SERVICES_WITH_DATABASES, SERVICES_WITH_WORKERS
from tests.fixtures.metrics import Scrape, scrape
from tests.fixtures.space_socket import SpaceSocket

pytestmark = pytest.mark.e2e

CHAT = -100_888_000_077


def update(update_id: int, message_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": CHAT, "type": "supergroup", "title": "observability"},
            "from": {"id": 7001, "is_bot": False, "first_name": "Olga"},
            "text": text,
        },
    }


async def test_metrics_and_logs_of_every_process(whole_stack):
    stack = whole_stack
    marker = f"confidential-{uuid.uuid4().hex}"
    texts = [
        f"@olga please fix the invoice export before Friday {marker} one",
        f"Bug: the invoice export fails for {marker} two",
    ]
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=20
    ) as root:
        project = (await root.post("/api/projects", json={"name": "observed"})).json()["id"]
        bound = await root.post(
            "/api/ingestion/bindings", json={"project_id": project, "chat_id": CHAT}
        )
        assert bound.status_code == 201, bound.text
        pm = stack.token("pm", {project: Role.pm})
        async with (
            SpaceSocket(stack.ws_url, pm, project) as space,
            httpx.AsyncClient(
                base_url=stack.gateway_url, headers={"Authorization": f"Bearer {pm}"}, timeout=20
            ) as client,
        ):
            for n, text in enumerate(texts, start=1):
                sent = await client.post(
                    "/webhook/telegram",
                    json=update(8_877_000 + n, n, text),
                    headers={"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret},
                )
                assert sent.status_code == 200, sent.text
            await space.wait_for(
                lambda s: len(s.of("message.updated")) == len(texts), what="both messages"
            )
            ids = [e["data"]["message"]["id"] for e in space.of("message.updated")]
            extract = f"/api/projects/{project}/knowledge/extract"
            started = await client.post(extract, json={"message_ids": ids})
            for _ in range(100):  # knowledge's read model catches up asynchronously
                if started.status_code != 422:
                    break
                await asyncio.sleep(0.2)
                started = await client.post(extract, json={"message_ids": ids})
            assert started.status_code == 202, started.text
            await space.wait_for(
                lambda s: bool(s.of("extraction_completed")), what="extraction_completed"
            )
        gateway_page = await scrape(root)

    # the gateway counts proxied requests by route prefix (admin-only page by default)
    assert gateway_page.value(
        "tt_http_requests_total", service="gateway", route="/webhook/telegram", status="200"
    ) >= len(texts)
    assert gateway_page.value("tt_gateway_sockets") >= 0
    pages = await _scrape_services(stack.env)

    ingestion = pages["ingestion"]
    assert ingestion.value(
        "tt_http_requests_total", route="/webhook/telegram", method="POST", status="200"
    ) >= len(texts)
    save = pages["ingestion-worker"]
    updates = stack.env["TT_INGESTION_UPDATES_DURABLE"]  # the worker's consumer of updates
    assert save.value("tt_consumer_events_total", consumer=updates, outcome="stored") >= len(texts)
    # The worker's outbox rows go out through whichever relay takes them first: the worker's
    # own, or the API's (both listen for the same NOTIFY).
    published = sum(
        pages[process].value("tt_relay_published_events_total", service="ingestion")
        for process in ("ingestion", "ingestion-worker")
    )
    assert published >= len(texts) + 1  # the binding's event, then each message's
    # the lag of the updates' consumer and of the job queue
    assert save.has("tt_jetstream_consumer_pending_messages", consumer=updates)
    assert save.has(
        "tt_jetstream_consumer_pending_messages", consumer=stack.env["TT_INGESTION_JOBS_DURABLE"]
    )

    knowledge_worker = pages["knowledge-worker"]
    assert knowledge_worker.value("tt_jobs_total", service="knowledge", outcome="succeeded") >= 1
    assert knowledge_worker.value("tt_llm_requests_total", model="offline-rules", outcome="ok") >= 1
    assert knowledge_worker.value("tt_llm_tokens_total", model="offline-rules", kind="input") > 0
    extraction = {"service": "knowledge", "kind": "extraction", "status": "completed"}
    assert knowledge_worker.value("tt_runs_finished_total", **extraction) >= 1

    knowledge = pages["knowledge"]
    assert knowledge.value("tt_consumer_events_total", outcome="stored") >= len(texts)
    assert knowledge.has("tt_jetstream_consumer_pending_messages")
    assert knowledge.has("tt_outbox_waiting_rows", service="knowledge")
    routes = knowledge.label_values("tt_http_requests_total", "route")
    assert "/api/projects/{project_id}/knowledge/extract" in routes
    assert not any(str(project) in route for route in routes)

    _logs_are_json_and_hold_no_text_or_secret(stack, [marker, stack.webhook_secret])


async def _scrape_services(env: dict[str, str]) -> dict[str, Scrape]:
    pages: dict[str, Scrape] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES_WITH_DATABASES:
            port = env[f"TT_{service.upper()}_PORT"]
            pages[service] = await scrape(client, f"http://127.0.0.1:{port}/metrics")
        for service in SERVICES_WITH_WORKERS:
            port = env[f"TT_{service.upper()}_WORKER_METRICS_PORT"]
            pages[f"{service}-worker"] = await scrape(client, f"http://127.0.0.1:{port}/metrics")
    return pages


def _logs_are_json_and_hold_no_text_or_secret(stack, forbidden: list[str]) -> None:
    services: set[str] = set()
    for path in stack.log_dir.glob("*.log"):
        text = path.read_text(errors="replace")
        for secret in forbidden:
            assert secret not in text, f"{path.name} logs {secret!r}"
        for line in text.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                assert {"time", "level", "logger", "message", "service"} <= record.keys()
                services.add(record["service"])
    assert {"ingestion", "knowledge", "gateway"} <= services, services

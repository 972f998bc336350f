"""One webhook update, one trace, across real processes (issue 17).

The gateway, ingestion's API and worker and knowledge's API (its `messages` consumer) run as
real processes exporting over OTLP/HTTP to a receiver run by this test. A Telegram update is
posted to the gateway's webhook while a WebSocket watches the project; every hop's span —
the gateway's proxy, ingestion's request, its publish to the updates stream, the worker's
batch (its commit), the relay's publish, the gateway's send to the sockets and knowledge's
consumer — must be in the trace the gateway started, each one's parent in it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.devstack.embedded import free_port
from tests.fixtures.full_stack import (
    migrate,
    reserve_project_ids,
    stack_environment,
    start_ids_at,
)
from tests.fixtures.otlp import ReceivedSpan, TraceReceiver, trace_receiver
from tests.fixtures.processes import ServiceProcess, running
from tests.fixtures.space_socket import SpaceSocket

pytestmark = pytest.mark.e2e

CHAT = -100_555_000_017
TRACED = ("ingestion", "knowledge")


class TracedStack:
    def __init__(self, gateway_url: str, env: dict[str, str], receiver: TraceReceiver):
        self.gateway_url = gateway_url
        self.env = env
        self.receiver = receiver
        self.ws_url = gateway_url.replace("http://", "ws://") + "/ws"


@pytest.fixture(scope="module")
async def traced_stack(
    database_factory, nats_url, session_id, project_ids, tmp_path_factory
) -> AsyncIterator[TracedStack]:
    log_dir: Path = tmp_path_factory.mktemp("e2e-traces-logs")
    ports = {name: free_port() for name in (*TRACED, "analysis", "review", "gateway")}
    databases = {s: database_factory(f"e2e_traces_{s}") for s in TRACED}
    # Names of their own (the session id stays in them, so the session's cleanup finds them):
    # the whole stack of this session uses `session_id` alone.
    env = stack_environment(
        f"{session_id}tr", databases | {"analysis": "", "review": ""}, nats_url, ports
    )
    env = {k: v for k, v in env.items() if not k.startswith(("TT_ANALYSIS_", "TT_REVIEW_"))}
    with trace_receiver() as receiver:
        env |= {
            "TT_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 100 ms, not every 5 s
        }
        await asyncio.gather(*(migrate(service, env) for service in TRACED))
        await start_ids_at(databases["ingestion"], reserve_project_ids(project_ids))

        def api(service: str, command: str | None = None) -> ServiceProcess:
            ready = f"http://127.0.0.1:{ports[service]}/readyz"
            argv = [command or f"tasktracker-{service}", "api"]
            return ServiceProcess(f"traced-{service}", argv, env, log_dir, ready_url=ready)

        worker = ServiceProcess(
            "traced-ingestion-worker", ["tasktracker-ingestion", "worker"], env, log_dir
        )
        with running(
            api("ingestion"), worker, api("knowledge"), api("gateway", "tasktracker-gateway")
        ):
            yield TracedStack(f"http://127.0.0.1:{ports['gateway']}", env, receiver)


def _token(stack: TracedStack, sub: str, projects: dict[int, Role], admin: bool = False) -> str:
    claims = Claims(sub=sub, projects=projects, admin=admin, exp=int(time.time()) + 3600)
    return jwt.encode(claims.to_jwt_payload(), stack.env["TT_GATEWAY_JWT_SECRET"], "HS256")


def _update(update_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": CHAT, "type": "supergroup", "title": "traced chat"},
            "from": {"id": 1717, "is_bot": False, "first_name": "Tess", "username": "tess"},
            "text": text,
        },
    }


def _webhook_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The spans of the trace the gateway started for the webhook call."""
    roots = [
        s
        for s in spans
        if s.service == "gateway" and s.attributes.get("url.path") == "/webhook/telegram"
    ]
    return [s for s in spans if roots and s.trace_id == roots[0].trace_id]


# (service, process, span name prefix) of every hop the update goes through.
HOPS = [
    ("gateway", "api", "POST gateway"),  # the proxy: the trace starts here
    ("ingestion", "api", "POST /webhook/telegram"),  # FastAPI instrumentation
    ("ingestion", "api", "publish updates."),  # the update's publish to its stream
    ("ingestion", "worker", "consume ingestion-updates"),  # its batch's commit (and outbox)
    ("ingestion", "", "publish space."),  # the relay of the API or of the worker
    ("gateway", "api", "send messages.message.updated to sockets"),
    ("knowledge", "api", "consume "),  # knowledge's read model consumer
]


def _has(trace: list[ReceivedSpan], service: str, process: str, prefix: str) -> bool:
    return any(
        s.service == service and s.process.startswith(process) and s.name.startswith(prefix)
        for s in trace
    )


def _connected(trace: list[ReceivedSpan]) -> bool:
    ids = {s.span_id for s in trace}
    return all(not s.parent_id or s.parent_id in ids for s in trace)


async def test_one_webhook_update_is_one_connected_trace(traced_stack: TracedStack) -> None:
    stack = traced_stack
    admin = _token(stack, "root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=15
    ) as rest:
        project = (await rest.post("/api/projects", json={"name": "traced"})).json()["id"]
        bound = await rest.post(
            "/api/ingestion/bindings", json={"project_id": project, "chat_id": CHAT}
        )
        assert bound.status_code == 201, bound.text

    viewer = _token(stack, "tess", {project: Role.viewer})
    async with SpaceSocket(stack.ws_url, viewer, project) as socket:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=15) as telegram:
            posted = await telegram.post(
                "/webhook/telegram",
                json=_update(17_000_017, "trace me through every hop"),
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": stack.env["TT_INGESTION_WEBHOOK_SECRET"]
                },
            )
            assert posted.status_code == 200, posted.text
        await socket.wait_for(
            lambda s: bool(s.of("message.updated")), within=30, what="message.updated"
        )
        [event] = socket.of("message.updated")

    def complete(spans: list[ReceivedSpan]) -> bool:
        trace = _webhook_trace(spans)
        return all(_has(trace, *hop) for hop in HOPS) and _connected(trace)

    spans = await asyncio.to_thread(stack.receiver.wait_for, complete, 30)
    trace = _webhook_trace(spans)
    summary = sorted((s.service, s.process, s.name) for s in trace)
    missing = [hop for hop in HOPS if not _has(trace, *hop)]
    assert not missing, f"hops missing from the trace: {missing}; trace: {summary}"
    ids = {s.span_id for s in trace}
    orphans = [(s.service, s.name) for s in trace if s.parent_id and s.parent_id not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    [root] = [s for s in trace if not s.parent_id]
    assert (root.service, root.name) == ("gateway", "POST gateway")
    # The event the socket received carries the trace it belongs to.
    assert event["trace_context"]["traceparent"].split("-")[1] == root.trace_id

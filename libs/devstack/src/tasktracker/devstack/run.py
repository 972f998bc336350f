"""`make run`: infrastructure, migrations, every service and worker, a demo project."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tasktracker.devstack.demo import load_demo
from tasktracker.devstack.infra import infrastructure
from tasktracker.devstack.secrets_store import local_secrets
from tasktracker.devstack.stack import DATA_SERVICES, PORTS, Stack


def wait_ready(stack: Stack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(PORTS)
    while pending and time.monotonic() < deadline:
        for service in sorted(pending):
            try:
                if httpx.get(stack.base_url(service) + "/readyz", timeout=1).status_code == 200:
                    pending.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    if pending:
        raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")


def run(root: Path) -> int:
    data_dir = root / ".data"
    stored = local_secrets(data_dir)
    with infrastructure(
        nats_url=os.environ.get("TT_NATS_URL"),
        postgres_url=os.environ.get("TT_DATABASE_URL"),
        data_dir=data_dir,
        keep_data=True,
        allow_containers=False,
    ) as infra:
        print(f"NATS        {infra.nats_url} ({infra.nats_kind})")
        shown = make_url(infra.postgres_url).render_as_string(hide_password=True)
        print(f"PostgreSQL  {shown} ({infra.postgres_kind})")
        stack = Stack(
            nats_url=infra.nats_url,
            postgres_url=infra.postgres_url,
            webhook_secret=stored["webhook_secret"],
            jwt_secret=stored["jwt_secret"],
        )
        env = {**os.environ, **stack.environment()}
        for service in DATA_SERVICES:
            print(f"migrating   {service}")
            subprocess.run([f"tasktracker-{service}", "migrate"], env=env, check=True)
        procfile = root / "deploy" / "local" / "Procfile"
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(root)],
            env=env,
        )
        try:
            wait_ready(stack)
            demo = asyncio.run(load_demo(stack, root / "deploy" / "local" / "sample_chat.json"))
            print_welcome(stack, demo.project_id, demo.token)
            return honcho.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stop(honcho)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C reaches honcho too; make sure it and its children are gone before we return."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_welcome(stack: Stack, project_id: int, token: str) -> None:
    gateway = stack.base_url("gateway")
    print(
        f"""
Task Tracker is running.
  gateway (REST + WebSocket)  {gateway}   WebSocket: {gateway.replace("http", "ws")}/ws
  services                    {", ".join(f"{s} {stack.base_url(s)}" for s in DATA_SERVICES)}

  demo project {project_id}; token (admin of it, valid 12h):
    export TT_TOKEN={token}

  watch events live:     uv run tasktracker-gateway watch --project {project_id} --token $TT_TOKEN
  list demo messages:
    curl -H "Authorization: Bearer $TT_TOKEN" {gateway}/api/projects/{project_id}/messages
  write in the demo chat (a new Telegram update through the webhook):
    uv run tasktracker-dev say --as boris "I'll fix the webhook timeout by Thursday"
  the webhook secret (setWebhook's secret_token): {stack.webhook_secret}

Ctrl-C stops everything.
""",
        flush=True,
    )

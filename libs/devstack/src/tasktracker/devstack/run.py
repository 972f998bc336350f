"""`make run`: infrastructure, migrations, every service and worker, a demo project.

Whatever stops it — Ctrl-C, SIGTERM (`timeout`, a supervisor), SIGHUP (a closed terminal) —
everything it started stops with it: the services, then the embedded NATS and PostgreSQL
(signals.py, supervisor.py). A second `make run` in the same folder refuses to start and says
where the first one runs (instance.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tasktracker.devstack.demo import load_demo
from tasktracker.devstack.infra import infrastructure
from tasktracker.devstack.instance import AlreadyRunning, PortsInUse, ports_in_use, single_instance
from tasktracker.devstack.secrets_store import local_secrets, write_gateway_env
from tasktracker.devstack.signals import StopRequested, StopSignals
from tasktracker.devstack.stack import DATA_SERVICES, PORTS, WORKER_METRICS_PORTS, Stack
from tasktracker.devstack.supervisor import Console, Supervisor


class StackFailed(Exception):
    """A step of the start failed; its own output says why."""


def run(root: Path) -> int:
    console = Console(sys.stdout)
    signals = StopSignals()
    with signals.installed():
        try:
            return _run(root, console, signals)
        except (AlreadyRunning, PortsInUse) as exc:
            print(f"tasktracker-dev: {exc}", file=sys.stderr)
            return 1
        except StackFailed as exc:
            console.say(f"tasktracker-dev: {exc}; everything it started is stopped.")
            return 1
        except StopRequested as stop:
            console.say(f"Task Tracker stopped ({stop.name}).")
            return 0


def _run(root: Path, console: Console, signals: StopSignals) -> int:
    data_dir = root / ".data"
    with single_instance(root, data_dir) as lock:
        stack_host = Stack.host
        taken = ports_in_use(stack_host, PORTS)
        if taken:
            raise PortsInUse(taken)
        stored = local_secrets(data_dir)
        write_gateway_env(data_dir, stored["jwt_secret"])
        with infrastructure(
            nats_url=os.environ.get("TT_NATS_URL"),
            postgres_url=os.environ.get("TT_DATABASE_URL"),
            data_dir=data_dir,
            keep_data=True,
            allow_containers=False,
        ) as infra:
            console.say(f"NATS        {infra.nats_url} ({infra.nats_kind})")
            shown = make_url(infra.postgres_url).render_as_string(hide_password=True)
            console.say(f"PostgreSQL  {shown} ({infra.postgres_kind})")
            stack = Stack(
                nats_url=infra.nats_url,
                postgres_url=infra.postgres_url,
                webhook_secret=stored["webhook_secret"],
                jwt_secret=stored["jwt_secret"],
                internal_actor_key=stored["internal_actor_key"],
            )
            lock.record(gateway=stack.base_url("gateway"))
            env = process_environment(stack)
            with signals.interruptible():
                migrate(env, console)
            supervisor = Supervisor(root / "deploy" / "local" / "Procfile", root, env, console)
            try:
                supervisor.start()
                with signals.interruptible():
                    wait_ready(stack, supervisor)
                    demo = asyncio.run(
                        load_demo(stack, root / "deploy" / "local" / "sample_week.json")
                    )
                    print_welcome(console, stack, demo.project_id, demo.token)
                    code = supervisor.wait()
                signals.check()
                raise StackFailed(f"the services stopped (honcho exit code {code})")
            finally:
                supervisor.stop()


def process_environment(stack: Stack) -> dict[str, str]:
    """The services' environment; the venv's scripts first on PATH, however we were started."""
    scripts = str(Path(sys.executable).parent)
    path = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    return {**os.environ, **stack.environment(), "PATH": path}


def migrate(env: dict[str, str], console: Console) -> None:
    """Every service's migrations at once, quietly: warnings and errors only."""
    console.say(f"migrating   {', '.join(DATA_SERVICES)}")
    running = {
        service: subprocess.Popen(
            [f"tasktracker-{service}", "migrate"],
            env={**env, f"TT_{service.upper()}_LOG_LEVEL": "WARNING"},
            stdin=subprocess.DEVNULL,
        )
        for service in DATA_SERVICES
    }
    try:
        failed = [service for service, process in running.items() if process.wait() != 0]
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    if failed:
        raise StackFailed(f"migrating {', '.join(failed)} failed (see above)")


def wait_ready(stack: Stack, supervisor: Supervisor, timeout: float = 180.0) -> None:
    # Generous: on a busy 2-core machine importing a service takes seconds, eight at once more.
    deadline = time.monotonic() + timeout
    pending = set(PORTS)
    while pending:
        if not supervisor.running():
            raise StackFailed("a service stopped while starting (see its lines above)")
        if time.monotonic() > deadline:
            raise StackFailed(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
        for service in sorted(pending):
            try:
                if httpx.get(stack.base_url(service) + "/readyz", timeout=1).status_code == 200:
                    pending.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)


def console_link(gateway: str, token: str) -> str:
    """The console's address with the token in the fragment: a browser never sends the part
    after `#` to a server, so the token stays out of every request line and access log."""
    return f"{gateway}/#token={token}"


def print_welcome(console: Console, stack: Stack, project_id: int, token: str) -> None:
    gateway = stack.base_url("gateway")
    worker_metrics = ", ".join(stack.metrics_url(f"{s}-worker") for s in WORKER_METRICS_PORTS)
    console.say(
        f"""
Task Tracker is running.
  review console (signed in)  {console_link(gateway, token)}
  gateway (REST + WebSocket)  {gateway}   WebSocket: {gateway.replace("http", "ws")}/ws
  services                    {", ".join(f"{s} {stack.base_url(s)}" for s in DATA_SERVICES)}
  the public API (OpenAPI)    {gateway}/openapi.json   browse it: {gateway}/docs
  metrics (Prometheus)        {stack.metrics_url("gateway")} and each service's /metrics;
                              workers: {worker_metrics}

  demo project {project_id}; token (admin of it, valid 12h):
    export TT_TOKEN={token}

  watch events live:     uv run tasktracker-gateway watch --project {project_id} --token $TT_TOKEN
  list demo messages:
    curl -H "Authorization: Bearer $TT_TOKEN" {gateway}/api/projects/{project_id}/messages
  write in the demo chat (a new Telegram update through the webhook):
    uv run tasktracker-dev say --as boris "I'll fix the webhook timeout by Thursday"
  another token (signed with this stack's secret, kept in .data/):
    uv run tasktracker-gateway token --sub alice --project {project_id}=pm --ttl 8h
  the webhook secret (setWebhook's secret_token): {stack.webhook_secret}

Ctrl-C stops everything.
"""
    )

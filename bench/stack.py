"""The stack as `make run` runs it, for benchmarks: every process of `deploy/local/Procfile`,
with the environment `tasktracker.devstack.stack.Stack` gives it.

Only what keeps a benchmark from colliding with anything else on the same servers changes:
free ports (the gateway's routes follow them), databases and job streams named with a tag of
this run, and project ids that start at a random base (the `space.>` stream may be shared).
Each process's memory (RSS, USS) is read with psutil, its children included (a TaskIQ
worker runs its workers as child processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import jwt
import nats
import psutil

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.devstack.embedded import database_url, free_port
from tasktracker.devstack.stack import DATA_SERVICES, PORTS, Stack
from tasktracker.gateway.settings import DEFAULT_ROUTES
from tasktracker.servicekit.db import asyncpg_dsn
from tests.fixtures.actor import SignedActor
from tests.fixtures.processes import ServiceProcess

PROCFILE = Path(__file__).parents[1] / "deploy/local/Procfile"
MB = 2**20


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.split()
    return entries


class BenchStack:
    """The Procfile's processes (or the `only` ones) on ports, databases and streams of their
    own; `start()` migrates and waits until each API answers /readyz."""

    def __init__(self, nats_url: str, postgres_url: str, only: tuple[str, ...] = ()) -> None:
        self.tag = secrets.token_hex(3)
        self.nats_url, self.postgres_url = nats_url, postgres_url
        self.stack = Stack(
            nats_url=nats_url,
            postgres_url=postgres_url,
            webhook_secret=secrets.token_urlsafe(32),
            jwt_secret=secrets.token_urlsafe(48),
        )
        self.ports = {service: free_port() for service in PORTS}
        self.databases = {s: f"tt_bench_{s}_{self.tag}" for s in DATA_SERVICES}
        self.env = self._environment()
        self.log_dir = Path(tempfile.mkdtemp(prefix="tt-bench-logs-"))
        entries = procfile()
        self.processes = {
            name: ServiceProcess(name, argv, self.env, self.log_dir, self._ready_url(name))
            for name, argv in entries.items()
            if not only or name in only
        }

    @property
    def internal_actor_key(self) -> str:
        """What a bench calling a service directly signs its caller with, as the gateway does."""
        return self.stack.internal_actor_key

    def _environment(self) -> dict[str, str]:
        env = self.stack.environment()
        base = {f"http://127.0.0.1:{port}": service for service, port in PORTS.items()}
        routes = {path: self.url(base[url]) for path, url in DEFAULT_ROUTES.items()}
        env["TT_GATEWAY_ROUTES"] = json.dumps(routes)
        for service, port in self.ports.items():
            env[f"TT_{service.upper()}_PORT"] = str(port)
            env[f"TT_{service.upper()}_LOG_LEVEL"] = "WARNING"
        for name in env:
            if name.endswith("_WORKER_METRICS_PORT"):
                env[name] = str(free_port())
        for service, database in self.databases.items():
            prefix = f"TT_{service.upper()}_"
            env[prefix + "DATABASE_URL"] = database_url(self.postgres_url, database)
            env[prefix + "JOBS_STREAM"] = f"BENCH_{service.upper()}_{self.tag}"
            env[prefix + "JOBS_SUBJECT"] = f"bench.{service}.{self.tag}"
            env[prefix + "JOBS_DURABLE"] = f"bench-{service}-{self.tag}"
        env["TT_INGESTION_UPDATES_STREAM"] = f"BENCH_INGESTION_{self.tag}_UPDATES"
        env["TT_INGESTION_UPDATES_SUBJECT"] = f"bench.ingestion.updates.{self.tag}"
        env["TT_INGESTION_UPDATES_DURABLE"] = f"bench-ingestion-updates-{self.tag}"
        return env

    def _ready_url(self, process: str) -> str | None:
        return f"{self.url(process)}/readyz" if process in PORTS else None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def gateway_ws(self) -> str:
        return self.url("gateway").replace("http://", "ws://") + "/ws"

    def token(self, sub: str, projects: dict[int, Role], *, admin: bool = False) -> str:
        claims = Claims(sub=sub, projects=projects, admin=admin, exp=int(time.time()) + 3600)
        return jwt.encode(claims.to_jwt_payload(), self.stack.jwt_secret, algorithm="HS256")

    # -- lifecycle ------------------------------------------------------------------------

    def migrate(self) -> None:
        for service in DATA_SERVICES:
            migrate = ServiceProcess(
                f"migrate-{service}", [f"tasktracker-{service}", "migrate"], self.env, self.log_dir
            ).start()
            assert migrate.process is not None
            if migrate.process.wait(180) != 0:
                raise RuntimeError(f"{service} migrate failed:\n{migrate.log_tail()}")
        asyncio.run(self._start_project_ids_at(800_000_000 + secrets.randbelow(10**8)))

    async def _start_project_ids_at(self, base: int) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.env["TT_INGESTION_DATABASE_URL"]))
        try:
            sequence = await conn.fetchval("SELECT pg_get_serial_sequence('projects', 'id')")
            await conn.execute(f"ALTER SEQUENCE {sequence} RESTART WITH {base}")
        finally:
            await conn.close()

    def start(self, *names: str) -> None:
        chosen = [self.processes[n] for n in names] if names else list(self.processes.values())
        for process in chosen:
            process.start()
        for process in chosen:
            process.wait_ready(180)

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            self.processes[name].stop(20)

    def cleanup(self) -> None:
        self.stop()
        asyncio.run(self._drop())

    async def _drop(self) -> None:
        with contextlib.suppress(Exception):
            client = await nats.connect(self.nats_url)
            js = client.jetstream()
            for service in DATA_SERVICES:
                for suffix in ("", "_DEAD", "_UPDATES"):
                    with contextlib.suppress(Exception):
                        await js.delete_stream(f"BENCH_{service.upper()}_{self.tag}{suffix}")
            await client.close()
        admin = await asyncpg.connect(asyncpg_dsn(database_url(self.postgres_url, "postgres")))
        try:
            for database in self.databases.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()

    # -- memory ---------------------------------------------------------------------------

    def rss_mb(self) -> dict[str, float]:
        return {name: tree_memory(p.process.pid, "rss") for name, p in self._alive()}

    def uss_mb(self) -> dict[str, float]:
        return {name: tree_memory(p.process.pid, "uss") for name, p in self._alive()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each process used so far, its children included: per
        request, a figure that other work on the machine does not change the way it does
        rates."""
        return {name: tree_cpu_seconds(p.process.pid) for name, p in self._alive()}

    def _alive(self) -> Iterator[tuple[str, ServiceProcess]]:
        for name, process in self.processes.items():
            if process.process is not None and process.process.poll() is None:
                yield name, process


@contextlib.contextmanager
def running_stack(
    nats_url: str, postgres_url: str, only: tuple[str, ...] = ()
) -> Iterator[BenchStack]:
    stack = BenchStack(nats_url, postgres_url, only)
    try:
        stack.migrate()
        stack.start()
        yield stack
    finally:
        stack.cleanup()


def tree_memory(pid: int, kind: str) -> float:
    """RSS or USS of a process and its descendants, in MB (0 for what exited meanwhile)."""
    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                info = proc.memory_full_info() if kind == "uss" else proc.memory_info()
                total += getattr(info, kind)
    return total / MB


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def server_memory(nats_url: str, postgres_url: str, kind: str) -> dict[str, float]:
    """The NATS and PostgreSQL servers' memory when they run on this machine."""
    return {name: tree_memory(pid, kind) for name, pid in server_pids(nats_url, postgres_url)}


def server_cpu_seconds(nats_url: str, postgres_url: str) -> dict[str, float]:
    return {name: tree_cpu_seconds(pid) for name, pid in server_pids(nats_url, postgres_url)}


def server_pids(nats_url: str, postgres_url: str) -> list[tuple[str, int]]:
    """The NATS and PostgreSQL servers when they run on this machine: the process listening
    on NATS's port, the postmaster whose data directory holds PostgreSQL's socket (embedded)
    or listening on its port. Their children (PostgreSQL's backends) count with them."""
    found: list[tuple[str, int]] = []
    nats_port = httpx.URL(nats_url.replace("nats://", "http://")).port or 4222
    pg_url = httpx.URL(postgres_url.replace("postgresql://", "http://"))
    pg_socket_dir = pg_url.params.get("host")
    pg_port = pg_url.port or 5432
    listeners: dict[int, int] = {}
    with contextlib.suppress(psutil.AccessDenied):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.pid:
                listeners.setdefault(conn.laddr.port, conn.pid)
    if nats_port in listeners:
        found.append(("nats-server", listeners[nats_port]))
    postmaster = None
    if pg_socket_dir:
        for proc in psutil.process_iter(["cmdline", "ppid"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if "postgres" in cmdline and pg_socket_dir in cmdline:
                postmaster = proc.pid
                break
    elif pg_port in listeners:
        postmaster = listeners[pg_port]
    if postmaster is not None:
        found.append(("postgresql", postmaster))
    return found


async def create_project(stack: BenchStack, name: str, chat_ids: list[int]) -> int:
    """A project with chats bound to it, as a global admin (through the gateway when it runs,
    else directly)."""
    if "gateway" in stack.processes:
        admin = stack.token("bench", {}, admin=True)
        options: dict = {"headers": {"Authorization": f"Bearer {admin}"}}
        via = "gateway"
    else:  # directly: the service takes only the gateway's signed caller
        options = {"auth": SignedActor("bench", admin=True, key=stack.internal_actor_key)}
        via = "ingestion"
    async with httpx.AsyncClient(base_url=stack.url(via), timeout=30, **options) as rest:
        created = await rest.post("/api/projects", json={"name": name})
        project = created.raise_for_status().json()["id"]
        for chat in chat_ids:
            await bind_chat(rest, project, chat)
    return project


async def bind_chat(rest: httpx.AsyncClient, project: int, chat: int) -> None:
    """A global admin's direct binding (`POST /api/ingestion/bindings`)."""
    bound = await rest.post(
        "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat}
    )
    bound.raise_for_status()

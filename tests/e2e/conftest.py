"""The phase-1 stack as real processes: ingestion API and worker, and the gateway.

PostgreSQL and NATS come from the shared fixtures. Project ids start at a base unique to this
test session, so a shared NATS server never mixes two sessions' spaces.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role
from tasktracker.devstack.embedded import free_port
from tests.fixtures.full_stack import full_stack, reserve_project_ids, start_ids_at
from tests.fixtures.processes import ServiceProcess, running


@dataclass(frozen=True)
class Stack:
    gateway_url: str
    webhook_secret: str
    jwt_secret: str
    log_dir: Path

    @property
    def ws_url(self) -> str:
        return self.gateway_url.replace("http://", "ws://") + "/ws"

    def token(self, sub: str, projects: dict[int, Role], *, admin: bool = False) -> str:
        claims = Claims(sub=sub, projects=projects, admin=admin, exp=int(time.time()) + 3600)
        return jwt.encode(claims.to_jwt_payload(), self.jwt_secret, algorithm="HS256")


@pytest.fixture(scope="session")
async def phase1_stack(
    database_factory, nats_url, session_id, project_ids, tmp_path_factory
) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    ingestion_port, gateway_port = free_port(), free_port()
    webhook_secret = secrets.token_urlsafe(24)
    jwt_secret = secrets.token_urlsafe(48)
    db_url = database_factory("e2e_ingestion")
    env = {
        "TT_INGESTION_DATABASE_URL": db_url,
        "TT_INGESTION_NATS_URL": nats_url,
        "TT_INGESTION_PORT": str(ingestion_port),
        "TT_INGESTION_WEBHOOK_SECRET": webhook_secret,
        # Not the whole stack's names (tests/fixtures/full_stack.py): both stacks live in one
        # session, and two workers on one durable took half of each other's jobs.
        "TT_INGESTION_JOBS_STREAM": f"TASKS_INGESTION_E2E_P1_{session_id}",
        "TT_INGESTION_JOBS_SUBJECT": f"tasks.ingestion.e2e.p1.{session_id}",
        "TT_INGESTION_JOBS_DURABLE": f"ingestion-e2e-p1-{session_id}",
        "TT_INGESTION_UPDATES_STREAM": f"UPDATES_INGESTION_E2E_P1_{session_id}",
        "TT_INGESTION_UPDATES_SUBJECT": f"updates.ingestion.e2e.p1.{session_id}",
        "TT_INGESTION_UPDATES_DURABLE": f"ingestion-updates-e2e-p1-{session_id}",
        "TT_GATEWAY_NATS_URL": nats_url,
        "TT_GATEWAY_PORT": str(gateway_port),
        "TT_GATEWAY_JWT_SECRET": jwt_secret,
        "TT_GATEWAY_ROUTES": json.dumps(
            {
                "/api/projects": f"http://127.0.0.1:{ingestion_port}",
                "/api/ingestion": f"http://127.0.0.1:{ingestion_port}",
                "/webhook/telegram": f"http://127.0.0.1:{ingestion_port}",
            }
        ),
    }
    bin_dir = Path(sys.executable).parent
    migrate = await asyncio.create_subprocess_exec(
        str(bin_dir / "tasktracker-ingestion"),
        "migrate",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await migrate.communicate()
    assert migrate.returncode == 0, output.decode()
    # a block of ids: the projects (and messages) this stack creates
    await start_ids_at(db_url, reserve_project_ids(project_ids))
    processes = (
        ServiceProcess(
            "ingestion-api",
            ["tasktracker-ingestion", "api"],
            env,
            log_dir,
            ready_url=f"http://127.0.0.1:{ingestion_port}/readyz",
        ),
        ServiceProcess("ingestion-worker", ["tasktracker-ingestion", "worker"], env, log_dir),
        ServiceProcess(
            "gateway",
            ["tasktracker-gateway", "api"],
            env,
            log_dir,
            ready_url=f"http://127.0.0.1:{gateway_port}/readyz",
        ),
    )
    with running(*processes):
        yield Stack(
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            webhook_secret=webhook_secret,
            jwt_secret=jwt_secret,
            log_dir=log_dir,
        )


@pytest.fixture(scope="session")
async def whole_stack(database_factory, nats_url, session_id, project_ids, tmp_path_factory):
    """All five services and their workers as real processes (tests/fixtures/full_stack.py)."""
    log_dir = tmp_path_factory.mktemp("e2e-whole-logs")
    async with full_stack(
        database_factory, nats_url, session_id, reserve_project_ids(project_ids), log_dir
    ) as stack:
        yield stack

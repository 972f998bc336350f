"""`tasktracker-<service> api|worker|migrate` — the same commands for every service."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from tasktracker.servicekit import heap
from tasktracker.servicekit.logs import configure_logging
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.tracing import configure_tracing


def service_cli(
    *,
    prog: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: str,
    migrations: Path | None = None,
    worker_broker: str | None = None,
    worker_modules: Sequence[str] = (),
    argv: Sequence[str] | None = None,
) -> int:
    """Parse argv and run one command. `app_factory`/`worker_broker` are "module:attr"."""
    parser = argparse.ArgumentParser(prog=prog)
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the HTTP API (and its relay and consumers)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    if migrations is not None:
        commands.add_parser("migrate", help="create the database if missing and migrate it")
    if worker_broker is not None:
        worker = commands.add_parser("worker", help="run the TaskIQ worker")
        worker.add_argument("--workers", type=int, default=1)
        requeue = commands.add_parser(
            "requeue-parked", help="kick jobs parked on the dead-letter stream again"
        )
        requeue.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    settings = settings_factory()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    if args.command in ("api", "worker"):
        heap.enable()  # a long-lived process: its startup heap is frozen once it has started
        # Before the app or the broker is built (they add their hooks when it is on); the
        # worker's processes are forked from this one and inherit it.
        role = "api" if args.command == "api" else "worker"
        configure_tracing(settings.service_name, settings.otlp_endpoint, **{"tt.process": role})

    if args.command == "api":
        uvicorn.run(app_factory, **uvicorn_options(settings, args.host, args.port))
    elif args.command == "migrate":
        from tasktracker.servicekit.migrations import upgrade  # alembic only when migrating

        upgrade(settings.database_url, migrations)
    elif args.command == "requeue-parked":
        count = asyncio.run(_requeue(worker_broker, args.limit))
        print(f"requeued {count} parked job(s)")
    elif args.command == "worker":
        from taskiq.cli.worker.args import WorkerArgs
        from taskiq.cli.worker.run import run_worker

        return (
            run_worker(
                WorkerArgs(
                    broker=worker_broker,
                    modules=list(worker_modules),
                    workers=args.workers,
                    configure_logging=False,
                    # taskiq sets its own logger to this: at INFO it logs a line per job,
                    # which cost the ingestion worker 7% of its time at 1,000 jobs/s.
                    log_level=taskiq_log_level(settings.log_level),
                    max_async_tasks=settings.job_max_async_tasks,
                    receiver="tasktracker.servicekit.worker:JobReceiver",
                )
            )
            or 0
        )
    return 0


def uvicorn_options(
    settings: ServiceSettings, host: str | None = None, port: int | None = None
) -> dict[str, Any]:
    """uvicorn's options for `api`. Its access log (a line per request at INFO) only when the
    service's settings turn it on (`TT_<SERVICE>_ACCESS_LOG=true`): off, as the gateway's.
    The caller's address from the gateway's `X-Forwarded-For` is read for that log alone
    (nothing else in a service uses it): without the log, uvicorn's proxy-headers middleware
    stays out of every request (3 % of the webhook's CPU in a py-spy profile)."""
    return {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log,
        "proxy_headers": settings.access_log,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "log_config": None,  # uvicorn's loggers propagate to the root's (servicekit.logs)
    }


def taskiq_log_level(level: str) -> str:
    """taskiq's own logger: WARNING unless the service logs at DEBUG."""
    return "DEBUG" if level.upper() == "DEBUG" else max(level.upper(), "WARNING", key=_rank)


def _rank(level: str) -> int:
    return logging.getLevelNamesMapping().get(level, logging.INFO)


async def _requeue(broker_path: str, limit: int) -> int:
    from taskiq.cli.utils import import_object

    from tasktracker.servicekit.dead_letters import requeue_parked

    broker = import_object(broker_path)
    await broker.startup()
    try:
        return await requeue_parked(broker, limit)
    finally:
        await broker.shutdown()

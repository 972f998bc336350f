"""An analysis run over 1,000 messages with a `FunctionModel` that sleeps 200 ms per batch,
sequential and with concurrency 4, as a ratio to the ideal (batches x 200 ms, and that / 4).

The run is the worker's own use case (`Executor.run`, what `execute_analysis_run` calls) over
a real PostgreSQL database of its own (migrated, dropped at the end): per batch the agent
call, then one transaction with the proposals, the checkpoint, the progress and two outbox
events. What the ratio shows is the job's own overhead around the model; NATS plays no part
in a batch (events wait in the outbox for the relay).

    uv run python -m bench.analysis_runs --messages 1000 --sleep-ms 200
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

import tasktracker.analysis
from bench.infra import bench_infra
from bench.report import Figure, print_figures
from tasktracker.analysis.agent import build_agent
from tasktracker.analysis.db import read_models, runs
from tasktracker.analysis.db.models import ProjectSettingsRow
from tasktracker.analysis.domain.offline_tasks import extract
from tasktracker.analysis.domain.proposals import parse_prompt
from tasktracker.analysis.execute import Executor
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.events import MessageAuthor, MessageRecord
from tasktracker.devstack.embedded import database_url
from tasktracker.servicekit import db
from tasktracker.servicekit.db import asyncpg_dsn
from tasktracker.servicekit.llm import answer_with, last_user_prompt
from tasktracker.servicekit.migrations import upgrade

MIGRATIONS = Path(tasktracker.analysis.__file__).with_name("migrations")
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
BATCH = 50


def sleeping_model(seconds: float) -> FunctionModel:
    """The offline rules' answer, after `seconds` — a model whose latency is known."""

    async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(seconds)
        context, lines = parse_prompt(last_user_prompt(messages))
        return answer_with(extract(context, lines), info, "sleeping-offline-rules")

    return FunctionModel(answer, model_name="sleeping-offline-rules")


async def one_run(url: str, project: int, count: int, concurrency: int, sleep: float) -> float:
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    try:
        records = [
            MessageRecord(
                id=project * 100_000 + n,
                project_id=project,
                chat_id=-1,
                message_id=n + 1,
                update_id=n + 1,
                author=MessageAuthor(display_name="Anna", username="anna"),
                text=f"Please fix bug number {n} in the webhook",
                kind=MessageKind.text,
                sent_at=START + timedelta(seconds=10 * n),
            )
            for n in range(count)
        ]
        async with db.transaction(sessions) as session:
            await read_models.upsert_messages(session, records)
            session.add(
                ProjectSettingsRow(
                    project_id=project,
                    batch_gap_minutes=10,
                    batch_max_messages=BATCH,
                    analysis_concurrency=concurrency,
                    occurred_at=START,
                )
            )
            run = await runs.create(
                session,
                project_id=project,
                start=START,
                end=START + timedelta(days=1),
                created_by="bench",
            )
            await runs.request_start(session, project, run.id, "bench")
        executor = Executor(
            sessions=sessions,
            agent=build_agent(AnalysisSettings(), sleeping_model(sleep)),
            limiter=RequestsPerMinute(None),
        )
        began = time.perf_counter()
        status = await executor.run(run.id, last_try=True)
        elapsed = time.perf_counter() - began
        if status != "completed":
            raise RuntimeError(f"the bench run ended {status}")
        return elapsed
    finally:
        await engine.dispose()


async def drop(server: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(database_url(server, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def measure(server: str, count: int, sleep_ms: float) -> list[Figure]:
    name = f"tt_bench_analysis_{uuid.uuid4().hex[:8]}"
    url = database_url(server, name)
    upgrade(url, MIGRATIONS)
    sleep = sleep_ms / 1000
    batches = math.ceil(count / BATCH)
    figures = []
    try:
        for concurrency in (1, 4):
            elapsed = asyncio.run(one_run(url, concurrency, count, concurrency, sleep))
            ideal = batches * sleep / concurrency
            figures.append(
                Figure(
                    "analysis",
                    f"run of {count:,} msgs, concurrency {concurrency}: time/ideal",
                    elapsed / ideal,
                    "x",
                    "",
                    f"{elapsed:.2f} s vs {batches} batches x {sleep_ms:g} ms"
                    + (f" / {concurrency}" if concurrency > 1 else "")
                    + f" = {ideal:.2f} s",
                )
            )
    finally:
        asyncio.run(drop(server, name))
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_runs")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sleep-ms", type=float, default=200)
    args = parser.parse_args(argv)
    with bench_infra() as infra:
        figures = measure(infra.postgres_url, args.messages, args.sleep_ms)
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main()

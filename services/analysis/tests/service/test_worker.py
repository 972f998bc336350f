"""`tasktracker-analysis worker` as a real process: start → job → events on the stream in
lifecycle order; the worker killed after batch k → a new one resumes, each batch once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from tasktracker.analysis.db.models import BatchRow
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.contracts.subjects import Topic
from tasktracker.servicekit import db

from .support import (
    create_run,
    eventually,
    outbox_drained,
    run_state,
    seed,
    staged_events,
    stream_events,
)

# every batch proposes a task, left pending: the run stays completed
LIFECYCLE = ["run_created", "run_started", "progress_updated", "run_completed"]


def worker_env(settings: AnalysisSettings, **extra: object) -> dict[str, str]:
    names = (
        "database_url",
        "nats_url",
        "jobs_stream",
        "jobs_subject",
        "jobs_durable",
        "job_ack_wait_seconds",
        "job_retry_delay_seconds",
        "run_max_tries",
    )
    values = {name: getattr(settings, name) for name in names} | extra
    return {f"TT_ANALYSIS_{k.upper()}": str(v) for k, v in values.items()}


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    script = Path(sys.executable).with_name("tasktracker-analysis")
    command = str(script) if script.exists() else shutil.which("tasktracker-analysis")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(command), "worker"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def lifecycle_order(types: list[str]) -> list[str]:
    """The event types with batch events folded: what must come in lifecycle order."""
    folded: list[str] = []
    for kind in types:
        kind = "progress_updated" if kind == "proposals_created" else kind
        if not folded or folded[-1] != kind:
            folded.append(kind)
    return folded


async def test_worker_killed_after_a_batch_resumes_and_proposes_each_batch_once(
    client, sessions, settings, js, project_ids, tmp_path
) -> None:
    project = next(project_ids)
    await seed(sessions, project, 8, gap_every=1)  # eight batches of one
    run = await create_run(client, project)
    log = tmp_path / "worker.log"
    # 120 model calls a minute: a batch every half second, so the kill lands mid-run.
    env = worker_env(settings, llm_requests_per_minute=120)
    with worker(env, log) as first:
        assert (
            await client.post(f"/api/projects/{project}/runs/{run['id']}/start")
        ).status_code == 202
        state = await eventually(
            lambda: run_state(client, project, run["id"]),
            lambda s: s["progress"]["batches_done"] >= 2,
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed_at = (await run_state(client, project, run["id"]))["progress"]["batches_done"]
    assert state["status"] == "running" and 2 <= killed_at < 8, log.read_text()[-3000:]

    with worker(env, log):  # JetStream redelivers the job after its ack wait
        final = await eventually(
            lambda: run_state(client, project, run["id"]),
            lambda s: s["status"] in ("completed", "failed"),
            seconds=120,
        )
    assert final["status"] == "completed", log.read_text()[-3000:]
    assert final["progress"] == {"batches_done": 8, "batches_total": 8}
    assert final["counters"]["proposals_total"] == 8
    async with db.transaction(sessions) as session:
        stmt = select(BatchRow.batch_index).where(BatchRow.run_id == run["id"])
        assert sorted((await session.execute(stmt)).scalars()) == list(range(8))
    staged = await staged_events(sessions, run["id"])
    per_batch = Counter(e.data["batch_index"] for e in staged if e.type == "proposals_created")
    assert per_batch == dict.fromkeys(range(8), 1)

    await eventually(lambda: outbox_drained(sessions), bool)
    published = [
        e.type
        for e in await stream_events(js, project, Topic.analysis_runs)
        if e.data.get("run_id") == run["id"]
    ]
    assert lifecycle_order(published) == LIFECYCLE
    assert Counter(published)["run_started"] == 1
    progress = [
        e.data["batches_done"]
        for e in await stream_events(js, project, Topic.analysis_runs)
        if e.type == "progress_updated" and e.data["run_id"] == run["id"]
    ]
    assert progress == list(range(1, 9))

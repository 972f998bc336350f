"""1,000 concurrent decisions over one run's proposals, through the review service's API.

`tasktracker-review api` runs as `make run` runs it (`bench.stack`), with event consumers of
its own (durables named with the run's tag, starting now). The run's 1,000 proposals arrive
as analysis sends them: `proposals_created` events of 50 on JetStream, stored by review's
consumer. Then 1,000 decisions (a third each approve, reject, merge into one task) are sent at
once over 64 connections, straight to the service with `X-Actor` (the gateway's own cost is
`bench.proxy`'s). Figures: decisions per second (first request sent to last answer), and the
tally checked exact: every answer 200, every proposal decided once, the run's counters equal
to the decisions made, one event per decision (0 mismatches is the goal).

    uv run python -m bench.review_decisions --decisions 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx
import nats

from bench.infra import bench_infra
from bench.report import Figure, print_figures
from bench.stack import BenchStack
from tasktracker.contracts.enums import Category, Priority
from tasktracker.contracts.events import TaskProposalData, TaskProposalsCreated, make_envelope
from tasktracker.servicekit.db import asyncpg_dsn
from tests.fixtures.actor import SignedActor

BATCH = 50
CONNECTIONS = 64
STATUS = {"approve": "approved", "reject": "rejected", "merge": "merged"}


async def publish_run(nats_url: str, project: int, run_id: uuid.UUID, titles: list[str]) -> None:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    try:
        for index, start in enumerate(range(0, len(titles), BATCH)):
            event = TaskProposalsCreated(
                run_id=run_id,
                batch_index=index,
                proposals=[
                    TaskProposalData(
                        proposal_id=uuid.uuid4(),
                        batch_index=index,
                        title=title,
                        description="",
                        priority=Priority.medium,
                        category=Category.chore,
                        source_message_ids=[start + n],
                        confidence=0.7,
                    )
                    for n, title in enumerate(titles[start : start + BATCH])
                ],
            )
            envelope = make_envelope(event, project_id=project, producer="bench")
            await js.publish(
                envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
            )
    finally:
        await client.close()


async def wait_stored(conn: asyncpg.Connection, run_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        total = await conn.fetchval("SELECT total FROM runs WHERE id = $1", run_id)
        if total == count:
            rows = await conn.fetch("SELECT id FROM proposals WHERE run_id = $1", run_id)
            return [row["id"] for row in rows]
        await asyncio.sleep(0.2)
    raise RuntimeError(f"review stored {total} of {count} proposals in 120 s")


async def measure(stack: BenchStack, decisions: int) -> list[Figure]:
    project = 900_000_000 + secrets.randbelow(10**8)
    conn = await asyncpg.connect(asyncpg_dsn(stack.env["TT_REVIEW_DATABASE_URL"]))
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    try:
        async with httpx.AsyncClient(
            base_url=f"{stack.url('review')}/api/projects/{project}/proposals",
            auth=SignedActor("bench-pm", key=stack.internal_actor_key),
            limits=limits,
            timeout=120,
        ) as client:
            target_run = uuid.uuid4()
            await publish_run(stack.nats_url, project, target_run, ["The merge target"])
            [target] = await wait_stored(conn, target_run, 1)
            task_id = (await client.put(f"/{target}/approve")).json()["task_id"]

            run_id = uuid.uuid4()
            titles = [f"Bench proposal {n} {secrets.token_hex(4)}" for n in range(decisions)]
            await publish_run(stack.nats_url, project, run_id, titles)
            ids = await wait_stored(conn, run_id, decisions)
            plan = [("approve", "reject", "merge")[n % 3] for n in range(decisions)]
            bodies = {"approve": None, "reject": {"reason": "bench"}, "merge": {"task_id": task_id}}

            started = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    client.put(f"/{pid}/{action}", json=bodies[action])
                    for pid, action in zip(ids, plan, strict=True)
                ),
                return_exceptions=True,  # a failed request is a mismatch, not the end
            )
            elapsed = time.perf_counter() - started
        tally = await conn.fetchrow(
            "SELECT total, pending, approved, rejected, merged FROM runs WHERE id = $1", run_id
        )
        statuses = Counter(
            row["status"]
            for row in await conn.fetch("SELECT status FROM proposals WHERE run_id = $1", run_id)
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE subject LIKE $1", f"space.{project}.proposals.%"
        )
    finally:
        await conn.close()
    want = Counter(STATUS[action] for action in plan)
    failed = [a for a in answers if not isinstance(a, httpx.Response)]
    not_ok = len(failed) + sum(
        1 for a in answers if isinstance(a, httpx.Response) and a.status_code != 200
    )
    mismatches = not_ok + sum(
        abs(tally[name] - want.get(name, 0)) + abs(statuses.get(name, 0) - want.get(name, 0))
        for name in STATUS.values()
    )
    mismatches += abs(tally["pending"]) + abs(tally["total"] - decisions)
    mismatches += abs(events - (decisions + 1))  # the merge target's approval too
    detail = f"{decisions} in {elapsed:.2f} s, {CONNECTIONS} connections; {dict(want)}"
    return [
        Figure(
            "review",
            f"{decisions:,} concurrent decisions, one run",
            decisions / elapsed,
            "decisions/s",
            "",
            detail,
        ),
        Figure(
            "review",
            "tally mismatches (answers, counters, events)",
            mismatches,
            "",
            "= 0",
            f"non-200 answers: {not_ok}" + (f", first failure {failed[0]!r}" if failed else ""),
        ),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1000)
    args = parser.parse_args(argv or [])
    if not 3 <= args.decisions <= 20_000:
        parser.error("--decisions must be 3..20000")
    with bench_infra() as infra:
        stack = BenchStack(infra.nats_url, infra.postgres_url, only=("review",))
        durables = {
            "TT_REVIEW_RUNS_DURABLE": f"bench-review-runs-{stack.tag}",
            "TT_REVIEW_MESSAGES_DURABLE": f"bench-review-messages-{stack.tag}",
        }
        # the shared `space.>` stream's history is not this run's
        extra = {**durables, "TT_REVIEW_EVENTS_SINCE": datetime.now(UTC).isoformat()}
        stack.env.update(extra)
        for process in stack.processes.values():
            process.env.update(extra)
        try:
            stack.migrate()
            stack.start("review")
            result = asyncio.run(measure(stack, args.decisions))
        finally:
            stack.cleanup()
            asyncio.run(_drop_consumers(infra.nats_url, list(durables.values())))
    print_figures(result)
    return result


async def _drop_consumers(nats_url: str, durables: list[str]) -> None:
    with contextlib.suppress(Exception):
        client = await nats.connect(nats_url)
        js = client.jetstream()
        for durable in durables:
            with contextlib.suppress(Exception):
                await js.delete_consumer("SPACES", durable)
        await client.close()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

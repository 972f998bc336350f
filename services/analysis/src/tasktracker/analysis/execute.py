"""The job `execute_analysis_run`: claim the run, batch the window, one agent call per batch,
and per batch ONE transaction with its proposals, its checkpoint (`run_batches`, unique on
`(run_id, batch_index)`), the run's progress and the `proposals_created` + `progress_updated`
events. A redelivered or retried job resumes with the batches not yet committed; a batch is
never committed twice; a cancelled run stops at the next batch boundary.

Each batch is given the run's earlier proposals (title, message ids) as context: a task it
states again is not proposed twice, and an earlier pending proposal it calls off is withdrawn
in the batch's transaction, with a `proposals_withdrawn` event.

Two deliveries of one run at once: the first holds a lease on the run (renewed while it
works); the second raises `RunHeld` and is retried after a backoff, by when the holder has
finished or died (a lease outlives its holder by at most one ack wait). The unique batch key
holds even if both ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.analysis import lifecycle
from tasktracker.analysis.agent import TaskAgent, propose
from tasktracker.analysis.db import read_models, runs
from tasktracker.analysis.db.models import BatchRow, ChatMessage, ProposalRow, RunRow
from tasktracker.analysis.domain.batching import (
    DEFAULT_GAP_MINUTES,
    DEFAULT_MAX_MESSAGES,
    Timed,
    plan_batches,
    split_by_sizes,
)
from tasktracker.analysis.domain.lifecycle import RunStatus
from tasktracker.analysis.domain.proposals import ChatLine, Context
from tasktracker.analysis.ratelimit import RequestsPerMinute
from tasktracker.analysis.store import OUTBOX
from tasktracker.contracts.events import (
    ProgressUpdated,
    ProposalWithdrawal,
    RunStarted,
    TaskProposalsCreated,
    TaskProposalsWithdrawn,
)
from tasktracker.servicekit import db, tracing
from tasktracker.servicekit.job_errors import describe_error, is_permanent, must_wait
from tasktracker.servicekit.llm import model_name

log = logging.getLogger(__name__)
ERROR_LIMIT = 1000


class RunHeld(Exception):
    """Another live worker holds the run: try again later."""


@dataclass
class Executor:
    sessions: async_sessionmaker[AsyncSession]
    agent: TaskAgent
    limiter: RequestsPerMinute
    lease_seconds: float = 30.0
    max_messages: int = 20_000

    async def run(self, run_id: uuid.UUID, *, last_try: bool) -> str:
        """Run (or resume) the run; its status afterwards. An error is raised for a retry,
        unless this is the last try (or no retry can help): then the run fails."""
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        row = await self._claim(run_id, owner)
        if row is None or row.status != RunStatus.running:
            return row.status if row is not None else "missing"
        renew = asyncio.create_task(self._renew(run_id, owner))
        try:
            status = await self._batches(row, owner)
        except Exception as error:
            if must_wait(error) or not (last_try or is_permanent(error)):
                raise
            return await self._fail(run_id, error)
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            with contextlib.suppress(Exception):  # else it expires by itself
                async with db.transaction(self.sessions) as session:
                    await runs.release_lease(session, run_id, owner)
        if status != RunStatus.running:
            return status
        async with db.transaction(self.sessions) as session:
            current = await runs.lock(session, run_id)
            if current is None or current.status != RunStatus.running:
                return current.status if current is not None else "missing"
            done = await lifecycle.complete(session, run_id)
            return done.status if done is not None else "missing"

    async def _claim(self, run_id: uuid.UUID, owner: str) -> RunRow | None:
        """pending (start requested) → running with `run_started`; then hold the lease."""
        async with db.transaction(self.sessions) as session:
            row = await runs.lock(session, run_id)  # waits for the start request's commit
            if row is None:
                return None
            if row.status == RunStatus.pending and row.start_requested_at is not None:
                row = await self._start(session, row)
            if row.status != RunStatus.running:
                return row
            if not await runs.take_lease(session, run_id, owner, self.lease_seconds):
                raise RunHeld(f"run {run_id} is held by {row.lease_owner}")
            return row

    async def _start(self, session: AsyncSession, row: RunRow) -> RunRow:
        settings = await read_models.project_settings(session, row.project_id)
        gap = settings.batch_gap_minutes if settings else DEFAULT_GAP_MINUTES
        size = settings.batch_max_messages if settings else DEFAULT_MAX_MESSAGES
        window = await read_models.window(
            session, row.project_id, row.window_start, row.window_end, self.max_messages
        )
        batches = plan_batches(
            [Timed(i, sent) for i, sent in window], gap=timedelta(minutes=gap), max_size=size
        )
        started = await runs.move(
            session,
            row.id,
            RunStatus.running,
            message_ids=[i for batch in batches for i in batch],
            batch_sizes=[len(b) for b in batches],
            batches_total=len(batches),
            concurrency=settings.analysis_concurrency if settings else 1,
            model=model_name(self.agent),
            started_at=datetime.now(UTC),
        )
        assert started is not None
        await OUTBOX.stage(
            session,
            RunStarted(run_id=row.id, total_messages=len(window), total_batches=len(batches)),
            project_id=row.project_id,
        )
        return started

    async def _renew(self, run_id: uuid.UUID, owner: str) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):  # a missed renewal only shortens the lease
                async with db.transaction(self.sessions) as session:
                    await runs.take_lease(session, run_id, owner, self.lease_seconds)

    async def _batches(self, row: RunRow, owner: str) -> str:
        """Propose every batch not yet committed, up to `concurrency` at once; the run's
        status when done (running, or whatever stopped it)."""
        batches = split_by_sizes(row.message_ids or [], row.batch_sizes or [])
        async with db.transaction(self.sessions) as session:
            done = set(
                (
                    await session.execute(
                        select(BatchRow.batch_index).where(BatchRow.run_id == row.id)
                    )
                ).scalars()
            )
            context = await _context(session, row.project_id)
        todo = [i for i in range(len(batches)) if i not in done]
        stopped: list[str] = []
        slots = asyncio.Semaphore(max(row.concurrency, 1))

        async def one(index: int) -> None:
            async with slots:
                if stopped:
                    return
                with tracing.span(
                    "analysis batch",
                    attributes={
                        "tt.run.id": str(row.id),
                        "tt.batch.index": index,
                        "tt.batch.messages": len(batches[index]),
                    },
                ):
                    status = await self._batch(row, index, batches[index], context)
                if status != RunStatus.running:
                    stopped.append(status)

        try:
            async with asyncio.TaskGroup() as group:
                for index in todo:
                    group.create_task(one(index))
        except BaseExceptionGroup as failed:  # the first batch's error decides: retry or fail
            raise failed.exceptions[0]  # noqa: B904 - its own causes are what count
        return stopped[0] if stopped else RunStatus.running

    async def _batch(self, row: RunRow, index: int, ids: Sequence[int], context: Context) -> str:
        async with db.transaction(self.sessions) as session:
            lines = _lines(await read_models.messages(session, ids))
            current = await session.get(RunRow, row.id)
            if current is None or current.status != RunStatus.running:
                return current.status if current is not None else "missing"
            earlier = await runs.earlier_proposals(session, row.id, index)
        context = context.with_earlier([(p.title, p.source_message_ids) for p in earlier])
        await self.limiter.wait()
        cleaned, _ = await propose(self.agent, context, lines, run_id=row.id, batch_index=index)
        proposals, dropped = cleaned.proposals, cleaned.dropped
        if dropped:
            log.info("run %s batch %d: %d invented ids dropped", row.id, index, dropped)
        if cleaned.restated:
            log.info(
                "run %s batch %d: %d earlier proposals stated again, not proposed twice",
                row.id,
                index,
                len(cleaned.restated),
            )
        async with db.transaction(self.sessions) as session:
            current = await runs.lock(session, row.id)
            if current is None or current.status != RunStatus.running:
                return current.status if current is not None else "missing"
            inserted = await session.execute(
                insert(BatchRow)
                .values(
                    run_id=row.id,
                    batch_index=index,
                    message_ids=list(ids),
                    proposals=len(proposals),
                    dropped_ids=dropped,
                )
                .on_conflict_do_nothing()
                .returning(BatchRow.batch_index)
            )
            if inserted.first() is None:
                return RunStatus.running  # another delivery committed this batch
            for p in proposals:
                session.add(
                    ProposalRow(
                        id=p.proposal_id,
                        run_id=row.id,
                        project_id=row.project_id,
                        batch_index=index,
                        title=p.title,
                        description=p.description,
                        priority=str(p.priority),
                        category=str(p.category),
                        tags=p.tags,
                        assignee=p.assignee,
                        due_date=p.due_date,
                        source_message_ids=p.source_message_ids,
                        confidence=p.confidence,
                        reasoning=p.reasoning,
                    )
                )
            withdrawals = [
                ProposalWithdrawal(proposal_id=earlier[ref - 1].id, message_ids=by)
                for ref, by in sorted(cleaned.withdrawn.items())
                if await runs.withdraw(session, earlier[ref - 1].id, index, by)
            ]
            current.batches_done += 1
            current.proposals_total += len(proposals)
            await session.flush()
            withdrawn = (
                TaskProposalsWithdrawn(run_id=row.id, batch_index=index, withdrawals=withdrawals)
                if withdrawals
                else None
            )
            await OUTBOX.stage_many(
                session,
                [
                    (
                        TaskProposalsCreated(run_id=row.id, batch_index=index, proposals=proposals),
                        row.project_id,
                    ),
                    *([(withdrawn, row.project_id)] if withdrawn else []),
                    (
                        ProgressUpdated(
                            run_id=row.id,
                            batches_done=current.batches_done,
                            batches_total=current.batches_total,
                            proposals_total=current.proposals_total,
                        ),
                        row.project_id,
                    ),
                ],
            )
            return RunStatus.running

    async def _fail(self, run_id: uuid.UUID, error: BaseException) -> str:
        reason = failure_reason(error)
        log.warning("run %s failed: %s", run_id, reason)
        async with db.transaction(self.sessions) as session:
            current = await runs.lock(session, run_id)
            if current is None or current.status != RunStatus.running:
                return current.status if current is not None else "missing"
            await lifecycle.fail(session, run_id, reason)
        return RunStatus.failed


def failure_reason(error: BaseException) -> str:
    """`Type: message`, and its cause's when it has one: pydantic-ai's "Exceeded maximum
    output retries" says only that the answers were wrong, its cause says how."""
    parts = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 3:
        kind, text = describe_error(seen)
        parts.append(f"{kind.rsplit('.', 1)[-1]}: {text}")
        seen = seen.__cause__
    return " <- ".join(parts)[:ERROR_LIMIT]


async def _context(session: AsyncSession, project_id: int) -> Context:
    items = await read_models.knowledge(session, project_id)
    return Context(
        members=await read_models.members(session, project_id),
        topics=[k.title for k in items if k.kind == "topic"],
        atoms=[f"{k.title}: {k.content}"[:300] for k in items if k.kind == "atom"],
    )


def _lines(rows: list[ChatMessage]) -> list[ChatLine]:
    return [
        ChatLine(
            id=r.id,
            author=r.author_name,
            text=r.text,
            sent_at=r.sent_at,
            username=r.author_username,
        )
        for r in rows
    ]

"""The extraction job: the window's messages in time order, a chunk per agent call, each
chunk's proposals and its `proposals_created` event committed together with the chunk as the
checkpoint. A redelivered or retried job resumes after the last committed chunk; two
deliveries running at once cannot both commit a chunk (the checkpoint is compared in the
chunk's transaction)."""

from __future__ import annotations

import logging
import math
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.contracts.events import (
    AtomProposalData,
    ExtractionCompleted,
    ExtractionFailed,
    ExtractionStarted,
    KnowledgeProposalsCreated,
    TopicProposalData,
)
from tasktracker.knowledge.agent import ExtractionAgent, extract_chunk
from tasktracker.knowledge.db import extractions, messages
from tasktracker.knowledge.db.models import ChatMessage, ExtractionRow, ProposalRow, TopicRow
from tasktracker.knowledge.domain.extraction import ChatLine, Extraction, chunks, name_key
from tasktracker.knowledge.domain.proposals import ChunkPlan, KnownTopic, plan_chunk
from tasktracker.knowledge.store import OUTBOX
from tasktracker.servicekit import db
from tasktracker.servicekit.job_errors import describe_error, is_permanent, must_wait
from tasktracker.servicekit.llm import model_name

log = logging.getLogger(__name__)
ERROR_LIMIT = 1000


async def run_extraction(
    sessions: async_sessionmaker[AsyncSession],
    agent: ExtractionAgent,
    extraction_id: uuid.UUID,
    *,
    last_try: bool,
    max_messages: int,
) -> str:
    """Run (or resume) the extraction; its final status. An error is raised for a retry,
    unless this is the last try (or no retry can help): then the extraction fails."""
    row = await _start(sessions, agent, extraction_id, max_messages)
    if row is None or row.status != "running":
        return row.status if row is not None else "missing"
    try:
        ids = row.message_ids or []
        parts = chunks(ids, row.chunk_size)
        for index in range(row.chunks_done, len(parts)):
            async with db.transaction(sessions) as session:
                lines = _lines(await messages.ordered(session, row.project_id, parts[index]))
            answer = await extract_chunk(agent, lines)
            async with db.transaction(sessions) as session:
                await _commit_chunk(session, extraction_id, index, answer, set(parts[index]))
    except Exception as error:
        if must_wait(error) or not (last_try or is_permanent(error)):
            raise
        await _fail(sessions, extraction_id, error)
        return "failed"
    async with db.transaction(sessions) as session:
        current = await extractions.lock(session, extraction_id)
        if current is None or current.status != "running":
            return current.status if current is not None else "missing"
        current.status = "completed"
        current.finished_at = datetime.now(UTC)
        await OUTBOX.stage(
            session,
            ExtractionCompleted(
                extraction_id=extraction_id,
                topic_proposals=current.topic_proposals,
                atom_proposals=current.atom_proposals,
            ),
            project_id=current.project_id,
        )
    return "completed"


async def _start(
    sessions: async_sessionmaker[AsyncSession],
    agent: ExtractionAgent,
    extraction_id: uuid.UUID,
    max_messages: int,
) -> ExtractionRow | None:
    """Claim a pending extraction: fix its messages and chunks, `extraction_started`."""
    async with db.transaction(sessions) as session:
        row = await extractions.lock(session, extraction_id)
        if row is None or row.status != "pending":
            return row
        if row.requested_ids is not None:
            found = await messages.ordered(session, row.project_id, row.requested_ids)
            ids = [message.id for message in found]
        else:
            ids = await messages.window_ids(
                session, row.project_id, row.window_start, row.window_end, max_messages
            )
        row.message_ids = ids
        row.message_count = len(ids)
        row.chunks_total = math.ceil(len(ids) / row.chunk_size)
        row.status = "running"
        row.started_at = datetime.now(UTC)
        row.model = model_name(agent)
        await OUTBOX.stage(
            session,
            ExtractionStarted(
                extraction_id=row.id,
                window_start=row.window_start,
                window_end=row.window_end,
                message_count=len(ids),
            ),
            project_id=row.project_id,
        )
        return row


def _lines(rows: list[ChatMessage]) -> list[ChatLine]:
    by_telegram_id = {(row.chat_id, row.message_id): row.id for row in rows}
    return [
        ChatLine(
            id=row.id,
            author=row.author_name,
            text=row.text,
            sent_at=row.sent_at,
            reply_to=by_telegram_id.get((row.chat_id, row.reply_to_message_id)),
        )
        for row in rows
    ]


async def _commit_chunk(
    session: AsyncSession,
    extraction_id: uuid.UUID,
    index: int,
    answer: Extraction,
    allowed: set[int],
) -> None:
    row = await extractions.lock(session, extraction_id)
    if row is None or row.status != "running" or row.chunks_done != index:
        return  # another delivery committed this chunk (or ended the extraction) meanwhile
    plan = plan_chunk(answer, allowed, await _known_topics(session, row.project_id))
    if plan.dropped_ids:
        log.info("extraction %s chunk %d: %d invented ids dropped", row.id, index, plan.dropped_ids)
    await _store_plan(session, row, index, plan)
    row.chunks_done = index + 1
    row.topic_proposals += len(plan.topics)
    row.atom_proposals += len(plan.atoms)
    await OUTBOX.stage(
        session,
        KnowledgeProposalsCreated(
            extraction_id=row.id,
            topics=[
                TopicProposalData(
                    proposal_id=t.proposal_id,
                    name=t.name,
                    description=t.description,
                    keywords=t.keywords,
                    source_message_ids=t.message_ids,
                )
                for t in plan.topics
            ],
            atoms=[
                AtomProposalData(
                    proposal_id=a.proposal_id,
                    topic_name=a.topic_name,
                    topic_proposal_id=a.topic_proposal_id,
                    topic_id=a.topic_id,
                    kind=a.kind,
                    title=a.title,
                    content=a.content,
                    source_message_ids=a.message_ids,
                    confidence=a.confidence,
                )
                for a in plan.atoms
            ],
        ),
        project_id=row.project_id,
    )


async def _known_topics(session: AsyncSession, project_id: int) -> dict[str, KnownTopic]:
    known: dict[str, KnownTopic] = {}
    pending = select(ProposalRow.name_key, ProposalRow.id).where(
        ProposalRow.project_id == project_id,
        ProposalRow.kind == "topic",
        ProposalRow.status == "pending",
    )
    for key, proposal_id in (await session.execute(pending)).all():
        known[key] = KnownTopic(proposal_id=proposal_id)
    topics = select(TopicRow.name_key, TopicRow.id).where(TopicRow.project_id == project_id)
    for key, topic_id in (await session.execute(topics)).all():
        known[key] = KnownTopic(topic_id=topic_id)  # an approved topic wins
    return known


async def _store_plan(
    session: AsyncSession, row: ExtractionRow, index: int, plan: ChunkPlan
) -> None:
    common = {"project_id": row.project_id, "extraction_id": row.id, "chunk_index": index}
    for topic in plan.topics:
        session.add(
            ProposalRow(
                id=topic.proposal_id,
                kind="topic",
                title=topic.name,
                name_key=name_key(topic.name),
                content=topic.description,
                keywords=topic.keywords,
                source_message_ids=topic.message_ids,
                **common,
            )
        )
    for atom in plan.atoms:
        session.add(
            ProposalRow(
                id=atom.proposal_id,
                kind=str(atom.kind),
                title=atom.title,
                content=atom.content,
                keywords=[],
                topic_name=atom.topic_name,
                topic_proposal_id=atom.topic_proposal_id,
                topic_id=atom.topic_id,
                source_message_ids=atom.message_ids,
                confidence=atom.confidence,
                **common,
            )
        )
    for proposal_id, ids in plan.attached.items():
        twin = await session.get(ProposalRow, proposal_id, with_for_update=True)
        if twin is not None and twin.status == "pending":
            twin.source_message_ids = [
                *twin.source_message_ids,
                *(i for i in ids if i not in twin.source_message_ids),
            ]
    await session.flush()


async def _fail(
    sessions: async_sessionmaker[AsyncSession], extraction_id: uuid.UUID, error: BaseException
) -> None:
    kind, text = describe_error(error)
    reason = f"{kind.rsplit('.', 1)[-1]}: {text}"[:ERROR_LIMIT]
    log.warning("extraction %s failed: %s", extraction_id, reason)
    async with db.transaction(sessions) as session:
        row = await extractions.lock(session, extraction_id)
        if row is None or row.status not in extractions.ACTIVE:
            return
        row.status = "failed"
        row.error = reason
        row.finished_at = datetime.now(UTC)
        await OUTBOX.stage(
            session, ExtractionFailed(extraction_id=row.id, error=reason), project_id=row.project_id
        )

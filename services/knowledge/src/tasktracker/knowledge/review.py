"""A person's decisions on proposals, each with its event in the same transaction.

A proposal is decided once: rows are locked (`FOR UPDATE`) and checked `pending` in the
deciding transaction, so of two concurrent decisions one wins and the other gets 409.

Approving an atom whose topic is still a pending proposal approves that topic proposal too:
the atom lands in the topic it was proposed under, as the reviewer saw it. An atom whose topic
proposal was rejected is created without a topic.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.enums import AtomKind
from tasktracker.contracts.events import AtomCreated, TopicCreated
from tasktracker.knowledge.db.models import AtomRow, ProposalRow, TopicRow
from tasktracker.knowledge.domain.extraction import name_key
from tasktracker.knowledge.schemas import ProposalEdit
from tasktracker.knowledge.store import OUTBOX
from tasktracker.servicekit.errors import conflict, not_found


async def lock_proposals(
    session: AsyncSession, project_id: int, ids: Sequence[uuid.UUID]
) -> list[ProposalRow]:
    """The project's proposals among `ids`, locked, in the order given; 404 naming the ids
    that are not the project's (another project's look exactly like missing ones)."""
    wanted = list(dict.fromkeys(ids))
    stmt = (
        select(ProposalRow)
        .where(ProposalRow.project_id == project_id, ProposalRow.id.in_(wanted))
        .order_by(ProposalRow.id)
        .with_for_update()
    )
    found = {row.id: row for row in (await session.execute(stmt)).scalars()}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        error = not_found("proposal")
        error.details = {"ids": missing}
        raise error
    return [found[i] for i in wanted]


def require_pending(rows: Sequence[ProposalRow]) -> None:
    decided = [row for row in rows if row.status != "pending"]
    if decided:
        raise conflict(
            "proposal already decided",
            {"decided": [{"id": str(row.id), "status": row.status} for row in decided]},
        )


async def approve(session: AsyncSession, rows: Sequence[ProposalRow], actor: str | None) -> None:
    """Approve pending proposals, topics before atoms."""
    require_pending(rows)
    for row in sorted(rows, key=lambda r: r.kind != "topic"):
        if row.status != "pending":
            continue  # a topic approved on the way by one of its atoms
        if row.kind == "topic":
            await _approve_topic(session, row, actor)
        else:
            await _approve_atom(session, row, actor)


async def reject(
    session: AsyncSession, rows: Sequence[ProposalRow], reason: str, actor: str | None
) -> None:
    require_pending(rows)
    for row in rows:
        _decide(row, "rejected", actor)
        row.reason = reason


async def edit(session: AsyncSession, row: ProposalRow, changes: ProposalEdit) -> None:
    require_pending([row])
    fields = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "title" in fields:
        row.title = " ".join(fields["title"].split()) if row.kind == "topic" else fields["title"]
        if row.kind == "topic":
            key = name_key(row.title)
            if key != row.name_key and await _name_taken(session, row.project_id, key):
                raise conflict(f"a topic or pending topic proposal is named {row.title!r}")
            row.name_key = key
    if "content" in fields:
        row.content = fields["content"]
    if "keywords" in fields:
        row.keywords = list(dict.fromkeys(fields["keywords"]))
    if "topic_name" in fields and row.kind != "topic":
        row.topic_name = fields["topic_name"]
        row.topic_id, row.topic_proposal_id = await _topic_named(
            session, row.project_id, name_key(row.topic_name)
        )
    row.edited = True


async def _approve_topic(session: AsyncSession, row: ProposalRow, actor: str | None) -> TopicRow:
    key = row.name_key or name_key(row.title)
    existing = await session.execute(
        select(TopicRow.id).where(TopicRow.project_id == row.project_id, TopicRow.name_key == key)
    )
    if existing.first() is not None:
        raise conflict(f"a topic named {row.title!r} exists already", {"id": str(row.id)})
    topic = TopicRow(
        project_id=row.project_id,
        name=row.title,
        name_key=key,
        description=row.content,
        keywords=row.keywords,
        source_message_ids=row.source_message_ids,
        proposal_id=row.id,
        created_by=actor,
    )
    session.add(topic)
    await session.flush()
    _decide(row, "approved", actor)
    row.created_id = topic.id
    await OUTBOX.stage(
        session,
        TopicCreated(
            topic_id=topic.id,
            name=topic.name,
            description=topic.description,
            proposal_id=row.id,
            keywords=topic.keywords,
            source_message_ids=topic.source_message_ids,
        ),
        project_id=row.project_id,
    )
    return topic


async def _approve_atom(session: AsyncSession, row: ProposalRow, actor: str | None) -> None:
    topic_id = row.topic_id
    if topic_id is None and row.topic_proposal_id is not None:
        parent = await session.get(ProposalRow, row.topic_proposal_id, with_for_update=True)
        if parent is not None and parent.project_id == row.project_id:
            if parent.status == "pending":
                topic_id = (await _approve_topic(session, parent, actor)).id
            elif parent.status == "approved":
                topic_id = parent.created_id
    atom = AtomRow(
        project_id=row.project_id,
        topic_id=topic_id,
        kind=row.kind,
        title=row.title,
        content=row.content,
        source_message_ids=row.source_message_ids,
        confidence=row.confidence,
        proposal_id=row.id,
        created_by=actor,
    )
    session.add(atom)
    await session.flush()
    _decide(row, "approved", actor)
    row.created_id = atom.id
    await OUTBOX.stage(
        session,
        AtomCreated(
            atom_id=atom.id,
            topic_id=topic_id,
            kind=AtomKind(row.kind),
            title=row.title,
            content=row.content,
            source_message_ids=row.source_message_ids,
            confidence=row.confidence,
            proposal_id=row.id,
        ),
        project_id=row.project_id,
    )


def _decide(row: ProposalRow, status: str, actor: str | None) -> None:
    row.status = status
    row.decided_by = actor
    row.decided_at = datetime.now(UTC)


async def _name_taken(session: AsyncSession, project_id: int, key: str) -> bool:
    topic_id, proposal_id = await _topic_named(session, project_id, key)
    return topic_id is not None or proposal_id is not None


async def _topic_named(
    session: AsyncSession, project_id: int, key: str
) -> tuple[int | None, uuid.UUID | None]:
    topic = await session.execute(
        select(TopicRow.id).where(TopicRow.project_id == project_id, TopicRow.name_key == key)
    )
    if (found := topic.scalar()) is not None:
        return found, None
    proposal = await session.execute(
        select(ProposalRow.id).where(
            ProposalRow.project_id == project_id,
            ProposalRow.kind == "topic",
            ProposalRow.status == "pending",
            ProposalRow.name_key == key,
        )
    )
    return None, proposal.scalar()

"""The project's approved knowledge: topics and atoms, with their source message ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from tasktracker.knowledge.db.models import AtomRow, TopicRow
from tasktracker.knowledge.schemas import AtomOut, MessageId, TopicOut
from tasktracker.servicekit.app import Session

router = APIRouter(prefix="/api/projects/{project_id}/knowledge", tags=["knowledge"])


@router.get("/topics")
async def list_topics(
    project_id: MessageId, session: Session, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> list[TopicOut]:
    stmt = (
        select(TopicRow).where(TopicRow.project_id == project_id).order_by(TopicRow.id).limit(limit)
    )
    return [TopicOut.model_validate(row) for row in (await session.execute(stmt)).scalars()]


@router.get("/atoms")
async def list_atoms(
    project_id: MessageId,
    session: Session,
    topic_id: MessageId | None = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AtomOut]:
    stmt = select(AtomRow).where(AtomRow.project_id == project_id)
    if topic_id is not None:
        stmt = stmt.where(AtomRow.topic_id == topic_id)
    if kind is not None:
        stmt = stmt.where(AtomRow.kind == kind)
    stmt = stmt.order_by(AtomRow.id).limit(limit)
    return [AtomOut.model_validate(row) for row in (await session.execute(stmt)).scalars()]

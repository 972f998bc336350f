"""Operator views: updates parked for unbound chats, and what was skipped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tasktracker.ingestion.db import parked
from tasktracker.ingestion.schemas import IngestionStats, ParkedList, ParkedOut
from tasktracker.ingestion.storable import Int64
from tasktracker.servicekit.app import Session

router = APIRouter(prefix="/api/ingestion", tags=["ingestion"])


@router.get("/parked")
async def list_parked(
    session: Session,
    chat_id: Int64 | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ParkedList:
    rows = await parked.list_waiting(session, chat_id=chat_id, limit=limit)
    return ParkedList(items=[ParkedOut.model_validate(row) for row in rows])


@router.get("/stats")
async def stats(session: Session) -> IngestionStats:
    return IngestionStats(
        parked_waiting=await parked.count_waiting(session),
        skipped_by_kind=await parked.skipped_counts(session),
    )

"""A project's messages: keyset-paginated list and single message."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import TypeAdapter, ValidationError

from tasktracker.contracts.errors import ErrorCode
from tasktracker.contracts.events import MessageRecord
from tasktracker.ingestion.db import messages
from tasktracker.ingestion.routes.projects import existing_project
from tasktracker.ingestion.schemas import MessagePage
from tasktracker.ingestion.storable import Int64, UtcTime
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import ApiError, not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/messages", tags=["messages"])

MAX_PAGE = 500

# A cursor is [sent_at, id] of the last message of a page, checked like any other input.
_CURSOR = TypeAdapter(tuple[UtcTime, Int64])


@router.get("", responses=error_responses(400, 404))
async def list_messages(
    project_id: Int64,
    session: Session,
    since: Annotated[UtcTime | None, Query(description="sent at or after (inclusive)")] = None,
    until: Annotated[UtcTime | None, Query(description="sent before (exclusive)")] = None,
    chat_id: Int64 | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="`desc`: newest first (the cursor walks back)")
    ] = "asc",
) -> MessagePage:
    """Times without an offset are UTC."""
    await existing_project(session, project_id)
    rows = await messages.list_messages(
        session,
        project_id,
        since=since,
        until=until,
        after=decode_cursor(cursor) if cursor else None,
        chat_id=chat_id,
        limit=limit + 1,
        newest_first=order == "desc",
    )
    page = rows[:limit]
    more = len(rows) > limit
    return MessagePage(
        items=[messages.to_record(row) for row in page],
        next_cursor=encode_cursor(page[-1].sent_at, page[-1].id) if more else None,
    )


@router.get("/{message_id}", responses=error_responses(404))
async def get_message(project_id: Int64, message_id: Int64, session: Session) -> MessageRecord:
    row = await messages.get_message(session, project_id, message_id)
    if row is None:
        raise not_found("message")
    return messages.to_record(row)


def encode_cursor(sent_at: datetime, row_id: int) -> str:
    raw = json.dumps([sent_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _CURSOR.validate_json(raw)
    except ValidationError as exc:
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise ApiError(400, ErrorCode.bad_request, "invalid cursor", details) from None
    except ValueError as exc:  # not base64
        raise ApiError(400, ErrorCode.bad_request, "invalid cursor", str(exc)) from None

"""`POST /api/ingestion/bindings`: a global admin binds a chat by its id.

Not scoped to a project, so the gateway lets only global admins call it. Project admins bind
with a code posted in the chat (`routes/sources.py`).
"""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import APIRouter, Response, status
from taskiq.exceptions import SendTaskError

from tasktracker.contracts.errors import ErrorCode
from tasktracker.ingestion import binding
from tasktracker.ingestion.queue import enqueue_release
from tasktracker.ingestion.routes.projects import existing_project
from tasktracker.ingestion.schemas import BindingCreate, BoundSource, SourceOut
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Runtime, Session
from tasktracker.servicekit.errors import ApiError, conflict
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/ingestion", tags=["bindings"])


@router.post(
    "/bindings", status_code=status.HTTP_201_CREATED, responses=error_responses(404, 409, 503)
)
async def bind_chat(
    body: BindingCreate, session: Session, runtime: Runtime, response: Response, actor: CurrentActor
) -> BoundSource:
    """Bind a chat; its parked updates are then released in order by a job."""
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    await existing_project(session, body.project_id)
    release = partial(enqueue_release, runtime.job_broker)
    try:
        async with asyncio.timeout(settings.webhook_enqueue_timeout_seconds):
            result = await binding.bind_chat(
                session,
                project_id=body.project_id,
                chat_id=body.chat_id,
                title=body.title,
                actor=actor.sub,
                release=release,
            )
    except binding.ChatBoundElsewhere:
        raise conflict("chat is bound to another project", {"chat_id": body.chat_id}) from None
    except (SendTaskError, TimeoutError):
        # Raised before the commit: nothing is bound, the caller may try again.
        message = "the release of the chat's parked updates could not be queued; try again"
        raise ApiError(503, ErrorCode.unavailable, message) from None
    if not result.created:
        response.status_code = status.HTTP_200_OK
    source = SourceOut.model_validate(result.binding)
    return BoundSource(**source.model_dump(), released_parked=result.released_parked)

"""A project's chat history imports: upload a Telegram Desktop export, follow its progress.

The upload is the export file as the request body (`curl --data-binary @result.json`), checked
whole before anything is written; the import is committed, then its job is queued. If the job
cannot be queued the answer is 503 and the import waits: uploading the file again queues it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from taskiq.exceptions import SendTaskError

from tasktracker.contracts.errors import ErrorCode
from tasktracker.ingestion.db import imports
from tasktracker.ingestion.history import BadExport, ChatNotBound, accept_export
from tasktracker.ingestion.queue import enqueue_import
from tasktracker.ingestion.routes.projects import existing_project
from tasktracker.ingestion.routes.webhook import read_body
from tasktracker.ingestion.schemas import ImportOut
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.storable import Int64
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Runtime, Session
from tasktracker.servicekit.errors import ApiError, not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/imports", tags=["imports"])

EXPORT_FILE = {
    "required": True,
    "description": "A Telegram Desktop chat export (`result.json`), sent as the raw body.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["id", "type", "messages"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "messages": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 404, 409, 413, 422, 503),
    openapi_extra={"requestBody": EXPORT_FILE},
)
async def upload_export(
    project_id: Int64, request: Request, session: Session, runtime: Runtime, actor: CurrentActor
) -> ImportOut:
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    await existing_project(session, project_id)
    body = await read_body(request, settings.import_max_bytes)
    try:
        row, resumed = await accept_export(session, project_id, body, actor.sub)
    except BadExport as exc:
        code = 400 if exc.code == ErrorCode.bad_request else 422
        raise ApiError(code, exc.code, str(exc)) from None
    except ChatNotBound as exc:
        details = {"chat_id": exc.chat.chat_id, "export_chat_id": exc.chat.export_id}
        raise ApiError(409, "chat_not_bound", str(exc), details) from None
    answer = ImportOut.model_validate(row).model_copy(update={"resumed": resumed})
    await session.commit()
    try:  # the broker waits webhook_enqueue_timeout_seconds for the PubAck
        await enqueue_import(runtime.job_broker, row.id)
    except SendTaskError:
        message = f"import {row.id} is saved but could not be queued; upload the file again"
        raise ApiError(503, ErrorCode.unavailable, message, {"import_id": row.id}) from None
    return answer


@router.get("/{import_id}", responses=error_responses(404))
async def get_import(project_id: Int64, import_id: Int64, session: Session) -> ImportOut:
    row = await imports.get_import(session, project_id, import_id)
    if row is None:
        raise not_found("import")
    return ImportOut.model_validate(row)

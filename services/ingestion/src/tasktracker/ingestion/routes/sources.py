"""A project's sources (bound Telegram chats): list, unbind, and the binding handshake.

A project admin binds a chat by proving they can write in it: they ask for a one-time code
and post it there (`/bind CODE`); the worker sees it and binds. Binding by id is for global
admins only (`POST /api/ingestion/bindings`): a chat's id is no secret (a private chat's id is
its user's id), and binding releases the chat's parked history to the project.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from tasktracker.ingestion import bindcodes, binding
from tasktracker.ingestion.db import bindcodes as codes
from tasktracker.ingestion.db import projects
from tasktracker.ingestion.routes.projects import existing_project
from tasktracker.ingestion.schemas import BindCodeOut, SourceOut
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.storable import Int64
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Runtime, Session
from tasktracker.servicekit.errors import ApiError, not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects/{project_id}/sources", tags=["sources"])


@router.post("/bind-codes", status_code=status.HTTP_201_CREATED, responses=error_responses(404))
async def create_bind_code(
    project_id: Int64, session: Session, runtime: Runtime, actor: CurrentActor
) -> BindCodeOut:
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    await existing_project(session, project_id)
    code = bindcodes.new_code()
    expires_at = await codes.issue(
        session,
        digest=bindcodes.digest(code),
        project_id=project_id,
        ttl=timedelta(seconds=settings.bind_code_ttl_seconds),
        actor=actor.sub,
    )
    instructions = (
        f"Post `/bind {code}` in the Telegram chat to bind, before {expires_at:%Y-%m-%d %H:%M} "
        "UTC. The bot must be a member of the chat. The code works once; the binding appears "
        "as ingestion.chat_bound on this project's messages topic and in GET .../sources."
    )
    return BindCodeOut(code=code, expires_at=expires_at, instructions=instructions)


@router.post("", status_code=status.HTTP_410_GONE, deprecated=True, responses=error_responses(410))
async def bind_by_id_is_gone(project_id: Int64) -> None:
    raise ApiError(
        410,
        "gone",
        "binding a chat by its id is no longer possible: ask for a code with "
        f"POST /api/projects/{project_id}/sources/bind-codes and post it in the chat "
        "(a global admin may bind directly with POST /api/ingestion/bindings)",
    )


@router.get("", responses=error_responses(404))
async def list_sources(project_id: Int64, session: Session) -> list[SourceOut]:
    await existing_project(session, project_id)
    return [
        SourceOut.model_validate(row) for row in await projects.list_bindings(session, project_id)
    ]


@router.delete("/{chat_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def unbind_source(project_id: Int64, chat_id: Int64, session: Session) -> None:
    await existing_project(session, project_id)
    if not await binding.unbind_chat(session, project_id=project_id, chat_id=chat_id):
        raise not_found("source")

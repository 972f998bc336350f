"""Projects and their sources (bound Telegram chats)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from tasktracker.ingestion import ingest, registry
from tasktracker.ingestion.db import projects
from tasktracker.ingestion.db.models import Project
from tasktracker.ingestion.schemas import (
    BoundSource,
    ProjectCreate,
    ProjectOut,
    ProjectPatch,
    SourceCreate,
    SourceOut,
)
from tasktracker.ingestion.storable import Int64, Text
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import conflict, not_found

router = APIRouter(prefix="/api/projects", tags=["projects"])

# The gateway authenticates the caller and forwards who it is.
Actor = Annotated[Text | None, Header(alias="X-Actor")]


async def existing_project(session: Session, project_id: int) -> Project:
    project = await projects.get_project(session, project_id)
    if project is None:
        raise not_found("project")
    return project


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_project(body: ProjectCreate, session: Session, actor: Actor = None) -> ProjectOut:
    project = await registry.create_project(
        session, name=body.name, settings=body.settings.model_dump(), created_by=actor
    )
    return ProjectOut.of(project)


@router.get("")
async def list_projects(session: Session) -> list[ProjectOut]:
    return [ProjectOut.of(row) for row in await projects.list_projects(session)]


@router.get("/{project_id}")
async def get_project(project_id: Int64, session: Session) -> ProjectOut:
    return ProjectOut.of(await existing_project(session, project_id))


@router.patch("/{project_id}")
async def update_project(project_id: Int64, body: ProjectPatch, session: Session) -> ProjectOut:
    project = await registry.update_project(session, project_id, body.changes())
    if project is None:
        raise not_found("project")
    return ProjectOut.of(project)


@router.post("/{project_id}/sources", status_code=status.HTTP_201_CREATED)
async def bind_source(
    project_id: Int64, body: SourceCreate, session: Session, response: Response, actor: Actor = None
) -> BoundSource:
    await existing_project(session, project_id)
    try:
        result = await ingest.bind_chat(
            session, project_id=project_id, chat_id=body.chat_id, title=body.title, actor=actor
        )
    except ingest.ChatBoundElsewhere:
        raise conflict("chat is bound to another project", {"chat_id": body.chat_id}) from None
    if not result.created:
        response.status_code = status.HTTP_200_OK
    source = SourceOut.model_validate(result.binding)
    return BoundSource(**source.model_dump(), released_parked=result.released_parked)


@router.get("/{project_id}/sources")
async def list_sources(project_id: Int64, session: Session) -> list[SourceOut]:
    await existing_project(session, project_id)
    return [
        SourceOut.model_validate(row) for row in await projects.list_bindings(session, project_id)
    ]


@router.delete("/{project_id}/sources/{chat_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unbind_source(project_id: Int64, chat_id: Int64, session: Session) -> None:
    await existing_project(session, project_id)
    if not await ingest.unbind_chat(session, project_id=project_id, chat_id=chat_id):
        raise not_found("source")

"""Projects: create, list, read, change settings."""

from __future__ import annotations

from fastapi import APIRouter, status

from tasktracker.ingestion import registry
from tasktracker.ingestion.db import projects
from tasktracker.ingestion.db.models import Project
from tasktracker.ingestion.schemas import ProjectCreate, ProjectOut, ProjectPatch
from tasktracker.ingestion.storable import Int64
from tasktracker.servicekit.actor import CurrentActor
from tasktracker.servicekit.app import Session
from tasktracker.servicekit.errors import not_found
from tasktracker.servicekit.openapi import error_responses

router = APIRouter(prefix="/api/projects", tags=["projects"])


async def existing_project(session: Session, project_id: int) -> Project:
    project = await projects.get_project(session, project_id)
    if project is None:
        raise not_found("project")
    return project


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_project(body: ProjectCreate, session: Session, actor: CurrentActor) -> ProjectOut:
    project = await registry.create_project(
        session, name=body.name, settings=body.settings.model_dump(), created_by=actor.sub
    )
    return ProjectOut.of(project)


@router.get("")
async def list_projects(session: Session) -> list[ProjectOut]:
    return [ProjectOut.of(row) for row in await projects.list_projects(session)]


@router.get("/{project_id}", responses=error_responses(404))
async def get_project(project_id: Int64, session: Session) -> ProjectOut:
    return ProjectOut.of(await existing_project(session, project_id))


@router.patch("/{project_id}", responses=error_responses(404))
async def update_project(project_id: Int64, body: ProjectPatch, session: Session) -> ProjectOut:
    project = await registry.update_project(session, project_id, body.changes())
    if project is None:
        raise not_found("project")
    return ProjectOut.of(project)

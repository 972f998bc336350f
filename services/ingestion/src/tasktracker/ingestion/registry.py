"""The project registry's writes: each commits with the event that tells other services.

`ingestion.project_configured` carries the project's whole state (name and settings), so a
consumer such as analysis keeps its read model of batching rules by upserting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import ProjectConfigured, ProjectSettings
from tasktracker.ingestion.db import projects
from tasktracker.ingestion.db.models import Project
from tasktracker.ingestion.store import OUTBOX


async def create_project(
    session: AsyncSession, *, name: str, settings: dict[str, int], created_by: str | None
) -> Project:
    project = await projects.create_project(
        session, name=name, settings=settings, created_by=created_by
    )
    await _announce(session, project)
    return project


async def update_project(
    session: AsyncSession, project_id: int, changes: dict[str, Any]
) -> Project | None:
    project = await projects.update_project(session, project_id, changes)
    if project is not None and changes:
        await _announce(session, project)
    return project


async def _announce(session: AsyncSession, project: Project) -> None:
    event = ProjectConfigured(
        name=project.name,
        settings=ProjectSettings(
            batch_gap_minutes=project.batch_gap_minutes,
            batch_max_messages=project.batch_max_messages,
            analysis_concurrency=project.analysis_concurrency,
        ),
    )
    await OUTBOX.stage(session, event, project_id=project.id)

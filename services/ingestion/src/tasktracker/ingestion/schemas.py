"""Request and response bodies of the ingestion REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tasktracker.contracts.events import MessageRecord
from tasktracker.ingestion.db.models import (
    ANALYSIS_CONCURRENCY,
    BATCH_GAP_MINUTES,
    BATCH_MAX_MESSAGES,
    Project,
)
from tasktracker.ingestion.storable import Int64, storable_text

ProjectName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(storable_text),
]
ChatTitle = Annotated[str, StringConstraints(max_length=200), AfterValidator(storable_text)]
GapMinutes = Annotated[int, Field(ge=BATCH_GAP_MINUTES[0], le=BATCH_GAP_MINUTES[1])]
MaxMessages = Annotated[int, Field(ge=BATCH_MAX_MESSAGES[0], le=BATCH_MAX_MESSAGES[1])]
Concurrency = Annotated[int, Field(ge=ANALYSIS_CONCURRENCY[0], le=ANALYSIS_CONCURRENCY[1])]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSettings(_Input):
    batch_gap_minutes: GapMinutes = 10
    batch_max_messages: MaxMessages = 50
    analysis_concurrency: Concurrency = 1


class ProjectSettingsPatch(_Input):
    batch_gap_minutes: GapMinutes | None = None
    batch_max_messages: MaxMessages | None = None
    analysis_concurrency: Concurrency | None = None


class ProjectCreate(_Input):
    name: ProjectName
    settings: ProjectSettings = Field(default_factory=ProjectSettings)


class ProjectPatch(_Input):
    name: ProjectName | None = None
    settings: ProjectSettingsPatch | None = None

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if self.name is not None:
            changes["name"] = self.name
        if self.settings is not None:
            changes.update(self.settings.model_dump(exclude_none=True))
        return changes


class ProjectOut(BaseModel):
    id: int
    name: str
    settings: ProjectSettings
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Project) -> ProjectOut:
        return cls(
            id=row.id,
            name=row.name,
            settings=ProjectSettings(
                batch_gap_minutes=row.batch_gap_minutes,
                batch_max_messages=row.batch_max_messages,
                analysis_concurrency=row.analysis_concurrency,
            ),
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class BindingCreate(_Input):
    """A global admin's direct binding of a chat."""

    project_id: Int64
    chat_id: Int64
    title: ChatTitle | None = None


class BindCodeOut(BaseModel):
    code: str
    expires_at: datetime
    instructions: str


class SourceOut(BaseModel):
    kind: Literal["telegram"] = "telegram"
    project_id: int
    chat_id: int
    title: str | None
    bound_by: str | None
    bound_at: datetime

    model_config = ConfigDict(from_attributes=True)  # SourceOut.model_validate(binding_row)


class BoundSource(SourceOut):
    released_parked: int  # parked updates released in order, by a job, after the binding


class MessagePage(BaseModel):
    items: list[MessageRecord]
    next_cursor: str | None


class ParkedOut(BaseModel):
    id: int
    chat_id: int
    chat_title: str | None
    update_id: int
    update_kind: str
    received_at: datetime
    payload: dict[str, Any]

    model_config = ConfigDict(from_attributes=True)  # ParkedOut.model_validate(parked_row)


class ParkedList(BaseModel):
    items: list[ParkedOut]


class IngestionStats(BaseModel):
    parked_waiting: int
    skipped_by_kind: dict[str, int]


class ImportOut(BaseModel):
    """A chat history import and its progress (messages read of `total`, and what became of
    them)."""

    model_config = ConfigDict(from_attributes=True)  # ImportOut.model_validate(import_row)

    id: int
    project_id: int
    chat_id: int
    chat_title: str | None
    status: Literal["queued", "running", "completed", "failed"]
    total: int
    read: int = Field(validation_alias="cursor")
    stored: int
    unchanged: int
    skipped: int
    errors: int
    error: str | None
    file_sha256: str
    file_bytes: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    resumed: bool = False  # this upload continues an unfinished import of the same file

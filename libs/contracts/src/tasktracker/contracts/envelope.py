"""The JSON envelope every event travels in (DESIGN.md §2)."""

from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from tasktracker.contracts.primitives import NonEmptyStr, ProjectId, UtcDatetime, utc_now
from tasktracker.contracts.subjects import SubjectError, Topic, check_event_type, subject

DataT = TypeVar("DataT")


class EnvelopeError(ValueError):
    """Raw bytes that are not a valid envelope. `errors` holds pydantic's error list, if any."""

    def __init__(self, message: str, errors: list[ErrorDetails] | None = None) -> None:
        super().__init__(message)
        self.errors: list[ErrorDetails] = errors or []


class Envelope(BaseModel, Generic[DataT]):
    """`{id, type, topic, project_id, occurred_at, producer, data}`, and `trace_context`
    when the producer traces.

    `id` doubles as the `Nats-Msg-Id` header, so a re-published envelope is deduplicated by
    JetStream and recognised by idempotent consumers. `trace_context` is the W3C trace
    context (`traceparent`, `tracestate`) of whatever caused the event; absent from the JSON
    when None, so an untraced envelope is byte for byte what it was before the field existed.
    """

    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid4)
    type: str
    topic: Topic
    project_id: ProjectId
    occurred_at: UtcDatetime = Field(default_factory=utc_now)
    producer: NonEmptyStr
    data: DataT
    trace_context: dict[str, str] | None = Field(default=None, exclude_if=lambda v: v is None)

    @field_validator("type")
    @classmethod
    def _type_is_subject_safe(cls, value: str) -> str:
        try:
            return check_event_type(value)
        except SubjectError as exc:
            raise ValueError(str(exc)) from None

    @property
    def subject(self) -> str:
        return subject(self.project_id, self.topic, self.type)

    @property
    def msg_id(self) -> str:
        """Value of the `Nats-Msg-Id` header."""
        return str(self.id)

    def to_bytes(self) -> bytes:
        """Compact JSON, the exact bytes published to NATS."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | str) -> "RawEnvelope":
        """Parse published bytes; `data` stays a plain dict (see `events.decode_event`)."""
        try:
            return RawEnvelope.model_validate_json(raw)
        except ValidationError as exc:
            summary = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}"
                for err in exc.errors()[:3]
            )
            raise EnvelopeError(f"invalid envelope: {summary}", exc.errors()) from exc


RawEnvelope = Envelope[dict[str, Any]]

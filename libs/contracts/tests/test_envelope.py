import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from tasktracker.contracts.envelope import Envelope, EnvelopeError, RawEnvelope
from tasktracker.contracts.subjects import Topic


def raw_envelope(**overrides: Any) -> RawEnvelope:
    fields: dict[str, Any] = {
        "type": "run_started",
        "topic": Topic.analysis_runs,
        "project_id": 42,
        "producer": "analysis",
        "data": {"a": 1},
    }
    return RawEnvelope(**(fields | overrides))


def test_defaults_and_derived_values() -> None:
    envelope = raw_envelope()
    assert isinstance(envelope.id, UUID)
    assert envelope.occurred_at.tzinfo is not None
    assert envelope.occurred_at.utcoffset() == timedelta(0)
    assert envelope.subject == "space.42.analysis_runs.run_started"
    assert envelope.msg_id == str(envelope.id)


def test_wire_shape_is_compact_json_with_the_designed_keys() -> None:
    envelope = raw_envelope(occurred_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    raw = envelope.to_bytes()
    assert b" " not in raw
    assert list(json.loads(raw)) == [
        "id",
        "type",
        "topic",
        "project_id",
        "occurred_at",
        "producer",
        "data",
    ]
    assert json.loads(raw)["occurred_at"] == "2025-01-02T03:04:05Z"
    assert Envelope.from_bytes(raw) == envelope
    assert Envelope.from_bytes(raw.decode()) == envelope


def test_occurred_at_is_normalised_to_utc() -> None:
    local = datetime(2025, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    envelope = raw_envelope(occurred_at=local)
    assert envelope.occurred_at == local
    assert envelope.occurred_at.tzinfo == UTC
    assert envelope.occurred_at.hour == 7


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError):
        raw_envelope(occurred_at=datetime(2025, 1, 1, 12, 0))
    raw = raw_envelope().model_dump(mode="json") | {"occurred_at": "2025-01-01T12:00:00"}
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(json.dumps(raw))


@pytest.mark.parametrize("project_id", [0, -5, True, "42", 1.5])
def test_project_id_must_be_a_positive_int(project_id: Any) -> None:
    with pytest.raises(ValidationError):
        raw_envelope(project_id=project_id)


@pytest.mark.parametrize("event_type", ["", "a..b", "run started", "run.*", ">"])
def test_type_must_be_usable_in_a_subject(event_type: str) -> None:
    with pytest.raises(ValidationError):
        raw_envelope(type=event_type)


def test_unknown_topic_and_empty_producer_are_rejected() -> None:
    with pytest.raises(ValidationError):
        raw_envelope(topic="nope")
    with pytest.raises(ValidationError):
        raw_envelope(producer="")


def test_envelope_is_frozen() -> None:
    with pytest.raises(ValidationError):
        raw_envelope().producer = "x"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"type": "x"}',
        b'{"type":"run_started","topic":"analysis_runs","project_id":1,"producer":"p","data":[]}',
        b'{"type":"run_started","topic":"analysis_runs","project_id":true,"producer":"p","data":{}}',
        b'{"type":"run_started","topic":"analysis_runs","project_id":1,"producer":"p","data":{},'
        b'"id":"nope"}',
    ],
)
def test_from_bytes_rejects_bad_input(raw: bytes) -> None:
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_bytes(raw)
    assert isinstance(info.value, ValueError)
    assert info.value.errors
    assert str(info.value).startswith("invalid envelope")


def test_from_bytes_ignores_unknown_envelope_keys() -> None:
    raw = raw_envelope().model_dump(mode="json") | {"trace_id": "abc"}
    assert Envelope.from_bytes(json.dumps(raw)).data == {"a": 1}


def test_trace_context_travels_only_when_there_is_one() -> None:
    """Optional and backward compatible: an untraced envelope has no `trace_context` key (the
    wire is what it was), a traced one round-trips it, and an older parser ignores it."""
    untraced = raw_envelope(data={"note": None})
    assert "trace_context" not in json.loads(untraced.to_bytes())
    assert json.loads(untraced.to_bytes())["data"] == {"note": None}  # None kept inside data
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    traced = raw_envelope(trace_context=carrier)
    assert Envelope.from_bytes(traced.to_bytes()).trace_context == carrier
    assert Envelope.from_bytes(untraced.to_bytes()).trace_context is None

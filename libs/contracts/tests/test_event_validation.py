"""Payload validation: what decode_event refuses and the invariants the models enforce."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from tasktracker.contracts.enums import Category, MessageKind, Priority
from tasktracker.contracts.envelope import Envelope, EnvelopeError
from tasktracker.contracts.events import (
    InvalidEventError,
    MessageAuthor,
    MessageRecord,
    ProposalMerged,
    RunCounters,
    RunCreated,
    RunStarted,
    TaskProposalData,
    TaskProposalsCreated,
    UnknownEventError,
    decode_event,
    decode_published,
    event_model,
    make_envelope,
)
from tasktracker.contracts.subjects import Topic

RUN_ID = UUID("00000000-0000-4000-8000-000000000001")
PROPOSAL_ID = UUID("00000000-0000-4000-8000-000000000002")
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=8)
COUNTERS = RunCounters(total=1, pending=1, approved=0, rejected=0, merged=0)


def task_proposal(batch_index: int = 0) -> TaskProposalData:
    return TaskProposalData(
        proposal_id=PROPOSAL_ID,
        batch_index=batch_index,
        title="Fix the login redirect",
        description="",
        priority=Priority.high,
        category=Category.bug,
        source_message_ids=[11],
        confidence=0.5,
    )


def test_decode_event_on_unknown_type() -> None:
    raw = Envelope[dict[str, object]](
        type="run_exploded", topic=Topic.analysis_runs, project_id=1, producer="p", data={}
    )
    with pytest.raises(UnknownEventError) as info:
        decode_event(raw)
    assert isinstance(info.value, LookupError)
    assert (info.value.topic, info.value.event_type) == ("analysis_runs", "run_exploded")


def test_event_model_on_unknown_topic() -> None:
    with pytest.raises(UnknownEventError):
        event_model("nope", "run_started")
    # a known type under the wrong topic is unknown too
    with pytest.raises(UnknownEventError):
        event_model(Topic.messages, "run_started")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"run_id": "not-a-uuid", "total_messages": 1, "total_batches": 1},
        {"run_id": str(RUN_ID), "total_messages": -1, "total_batches": 1},
        {"run_id": str(RUN_ID), "total_messages": 1, "total_batches": 1, "extra": True},
    ],
)
def test_decode_event_on_bad_payload(data: dict[str, object]) -> None:
    raw = Envelope[dict[str, object]](
        type="run_started", topic=Topic.analysis_runs, project_id=1, producer="p", data=data
    )
    with pytest.raises(InvalidEventError) as info:
        decode_event(raw)
    assert isinstance(info.value, ValueError)
    assert info.value.errors
    assert "analysis_runs/run_started" in str(info.value)


def test_task_proposal_constraints() -> None:
    valid = task_proposal().model_dump()
    for bad in ({"title": ""}, {"title": "x" * 301}, {"confidence": 1.01}, {"priority": "asap"}):
        with pytest.raises(ValueError):
            TaskProposalData.model_validate({**valid, **bad})
    assert TaskProposalData.model_validate({**valid, "title": "x" * 300, "confidence": 0.0})


def test_proposals_must_belong_to_the_event_batch() -> None:
    with pytest.raises(ValueError, match="batch_index"):
        TaskProposalsCreated(run_id=RUN_ID, batch_index=1, proposals=[task_proposal(0)])


def test_windows_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="window_end"):
        RunCreated(run_id=RUN_ID, window_start=END, window_end=START, created_by="pm")


def test_a_merge_names_the_task_it_went_into() -> None:
    """Issue 10: a proposal is merged into an existing task, not into another proposal."""
    merged = ProposalMerged(
        proposal_id=PROPOSAL_ID, run_id=RUN_ID, decided_by="pm", task_id=17, counters=COUNTERS
    )
    assert merged.task_id == 17
    with pytest.raises(ValueError, match="task_id"):
        ProposalMerged.model_validate(
            {
                "proposal_id": str(PROPOSAL_ID),
                "run_id": str(RUN_ID),
                "decided_by": "pm",
                "into_proposal_id": str(PROPOSAL_ID),
                "counters": COUNTERS.model_dump(),
            }
        )


def test_payload_datetimes_are_normalised_to_utc() -> None:
    message = MessageRecord(
        id=1,
        project_id=1,
        chat_id=1,
        message_id=1,
        author=MessageAuthor(display_name="Dana"),
        text="hi",
        kind=MessageKind.text,
        sent_at=datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert message.sent_at.utcoffset() == timedelta(0)
    assert message.sent_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_payloads_are_frozen() -> None:
    payload = RunStarted(run_id=RUN_ID, total_messages=1, total_batches=1)
    with pytest.raises(ValueError):
        payload.total_batches = 9


def test_decode_published_answers_like_decode_event_for_bytes_its_subject_does_not_describe():
    started = make_envelope(
        RunStarted(run_id=RUN_ID, total_messages=1, total_batches=1), project_id=1, producer="p"
    )
    # another (known) type than the subject's: the envelope's own type decides
    other_subject = "space.1.analysis_runs.run_created"
    assert decode_published(started.to_bytes(), other_subject).data == started.data
    assert decode_published(started.to_bytes(), "not.a.subject").data == started.data

    bad_payload = Envelope[dict[str, object]](
        type="run_started", topic=Topic.analysis_runs, project_id=1, producer="p", data={}
    )
    with pytest.raises(InvalidEventError):
        decode_published(bad_payload.to_bytes(), started.subject)
    unknown = bad_payload.model_copy(update={"type": "run_exploded"})
    with pytest.raises(UnknownEventError):
        decode_published(unknown.to_bytes(), "space.1.analysis_runs.run_exploded")
    with pytest.raises(EnvelopeError):
        decode_published(b"not an envelope", started.subject)

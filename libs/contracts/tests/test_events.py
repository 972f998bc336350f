from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from tasktracker.contracts.enums import AtomKind, Category, MessageKind, Priority
from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import (
    EVENT_MODELS,
    AtomCreated,
    AtomProposalData,
    ChatBound,
    ChatUnbound,
    EventPayload,
    ExtractionCompleted,
    ExtractionFailed,
    ExtractionStarted,
    ImportProgress,
    KnowledgeProposalsCreated,
    MessageAuthor,
    MessageRecord,
    MessageUpdated,
    ProgressUpdated,
    ProjectConfigured,
    ProjectSettings,
    ProposalApproved,
    ProposalMerged,
    ProposalRejected,
    ProposalUpdated,
    ProposalWithdrawal,
    RunCancelled,
    RunClosed,
    RunCompleted,
    RunCounters,
    RunCreated,
    RunFailed,
    RunMetrics,
    RunReviewed,
    RunStarted,
    TaskCreated,
    TaskProposalData,
    TaskProposalsCreated,
    TaskProposalsWithdrawn,
    TaskRecord,
    TaskStatus,
    TaskUpdated,
    TopicCreated,
    TopicProposalData,
    decode_envelope,
    decode_event,
    decode_published,
    event_model,
    make_envelope,
)
from tasktracker.contracts.subjects import Topic

RUN_ID = UUID("00000000-0000-4000-8000-000000000001")
PROPOSAL_ID = UUID("00000000-0000-4000-8000-000000000002")
EXTRACTION_ID = UUID("00000000-0000-4000-8000-000000000003")
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=8)
COUNTERS = RunCounters(total=5, pending=2, approved=1, rejected=1, merged=1)


def task_proposal(batch_index: int = 0) -> TaskProposalData:
    return TaskProposalData(
        proposal_id=PROPOSAL_ID,
        batch_index=batch_index,
        title="Fix the login redirect",
        description="Users land on a blank page after login.",
        priority=Priority.high,
        category=Category.bug,
        assignee="@dana",
        due_date=date(2025, 3, 7),
        source_message_ids=[11, 12],
        confidence=0.85,
    )


SAMPLES: dict[type[EventPayload], Callable[[], EventPayload]] = {
    MessageUpdated: lambda: MessageUpdated(
        message=MessageRecord(
            id=101,
            project_id=42,
            chat_id=-100123,
            message_id=7,
            update_id=555,
            author=MessageAuthor(
                user_id=3, telegram_user_id=999, display_name="Dana", username="dana"
            ),
            text="Can someone fix the login page by Friday?",
            kind=MessageKind.text,
            # a non-UTC offset: it must come back as the same instant
            sent_at=datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            edited_at=None,
            reply_to_message_id=6,
            forwarded_from=None,
        )
    ),
    ChatBound: lambda: ChatBound(chat_id=-100123, released_parked=4),
    ChatUnbound: lambda: ChatUnbound(chat_id=-100123),
    ImportProgress: lambda: ImportProgress(
        import_id=3,
        chat_id=-100123,
        status="running",
        total=50_000,
        read=5_000,
        stored=4_200,
        unchanged=0,
        skipped=800,
        errors=0,
    ),
    ProjectConfigured: lambda: ProjectConfigured(
        name="Checkout",
        settings=ProjectSettings(
            batch_gap_minutes=10, batch_max_messages=50, analysis_concurrency=1
        ),
    ),
    ExtractionStarted: lambda: ExtractionStarted(
        extraction_id=EXTRACTION_ID, window_start=START, window_end=END, message_count=30
    ),
    KnowledgeProposalsCreated: lambda: KnowledgeProposalsCreated(
        extraction_id=EXTRACTION_ID,
        topics=[TopicProposalData(proposal_id=uuid4(), name="Auth", description="Login flow")],
        atoms=[
            AtomProposalData(
                proposal_id=uuid4(),
                topic_name="Auth",
                kind=AtomKind.decision,
                title="Use OAuth",
                content="We agreed to use OAuth for login.",
                source_message_ids=[1, 2],
                confidence=0.9,
            )
        ],
    ),
    ExtractionCompleted: lambda: ExtractionCompleted(
        extraction_id=EXTRACTION_ID, topic_proposals=1, atom_proposals=1
    ),
    ExtractionFailed: lambda: ExtractionFailed(extraction_id=EXTRACTION_ID, error="LLM timeout"),
    TopicCreated: lambda: TopicCreated(
        topic_id=1, name="Auth", description="Login flow", proposal_id=uuid4()
    ),
    AtomCreated: lambda: AtomCreated(
        atom_id=2,
        topic_id=1,
        kind=AtomKind.fact,
        title="Login uses OAuth",
        content="",
        source_message_ids=[1],
    ),
    RunCreated: lambda: RunCreated(
        run_id=RUN_ID, window_start=START, window_end=END, created_by="pm@example.com"
    ),
    RunStarted: lambda: RunStarted(run_id=RUN_ID, total_messages=120, total_batches=3),
    ProgressUpdated: lambda: ProgressUpdated(
        run_id=RUN_ID, batches_done=1, batches_total=3, proposals_total=4
    ),
    TaskProposalsCreated: lambda: TaskProposalsCreated(
        run_id=RUN_ID, batch_index=2, proposals=[task_proposal(2)]
    ),
    TaskProposalsWithdrawn: lambda: TaskProposalsWithdrawn(
        run_id=RUN_ID,
        batch_index=3,
        withdrawals=[ProposalWithdrawal(proposal_id=UUID(int=7), message_ids=[41, 42])],
    ),
    RunCompleted: lambda: RunCompleted(run_id=RUN_ID, batches_total=3, proposals_total=9),
    RunFailed: lambda: RunFailed(run_id=RUN_ID, error="rate limited", batches_done=1),
    RunCancelled: lambda: RunCancelled(run_id=RUN_ID, reason="wrong window", cancelled_by="pm"),
    RunReviewed: lambda: RunReviewed(run_id=RUN_ID, proposals_total=4),
    RunClosed: lambda: RunClosed(
        run_id=RUN_ID,
        metrics=RunMetrics(
            total=4,
            approved=2,
            rejected=1,
            merged=1,
            edited_before_approval=1,
            approval_rate=0.5,
            rejection_rate=0.25,
            merge_rate=0.25,
            edited_before_approval_rate=0.5,
        ),
        closed_by="pm",
    ),
    ProposalApproved: lambda: ProposalApproved(
        proposal_id=PROPOSAL_ID,
        run_id=RUN_ID,
        decided_by="pm",
        edited=True,
        task_id=77,
        counters=COUNTERS,
    ),
    ProposalRejected: lambda: ProposalRejected(
        proposal_id=PROPOSAL_ID, run_id=RUN_ID, decided_by="pm", reason=None, counters=COUNTERS
    ),
    ProposalMerged: lambda: ProposalMerged(
        proposal_id=PROPOSAL_ID,
        run_id=RUN_ID,
        decided_by="pm",
        task_id=17,
        counters=COUNTERS,
    ),
    ProposalUpdated: lambda: ProposalUpdated(
        proposal_id=PROPOSAL_ID,
        run_id=RUN_ID,
        updated_by="pm",
        changes={"title": "New title", "due_date": "2025-03-09", "assignee": None},
    ),
    TaskCreated: lambda: TaskCreated(
        task=TaskRecord(
            id=17,
            title="Fix the login redirect",
            description="",
            priority=Priority.high,
            category=Category.bug,
            tags=["auth"],
            status=TaskStatus.open,
            source_message_ids=[11, 12],
            proposal_id=PROPOSAL_ID,
        ),
        created_by="pm",
    ),
    TaskUpdated: lambda: TaskUpdated(
        task_id=17, updated_by="pm", changes={"status": "in_progress", "assignee": "@dana"}
    ),
}


def test_every_registered_event_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_MODELS.values())


def test_registry_keys_match_the_classes() -> None:
    for (topic, event_type), model in EVENT_MODELS.items():
        assert (model.topic, model.event_type) == (topic, event_type)
        assert event_model(topic, event_type) is model
        assert event_model(str(topic), event_type) is model


def test_registry_covers_the_designed_event_types() -> None:
    types_by_topic: dict[Topic, set[str]] = {}
    for topic, event_type in EVENT_MODELS:
        types_by_topic.setdefault(topic, set()).add(event_type)
    assert types_by_topic == {
        Topic.messages: {
            "message.updated",
            "ingestion.chat_bound",
            "ingestion.chat_unbound",
            "ingestion.import_progress",
            "ingestion.project_configured",
        },
        Topic.knowledge_extraction: {
            "extraction_started",
            "proposals_created",
            "extraction_completed",
            "extraction_failed",
        },
        Topic.topics: {"topic_created", "atom_created"},
        Topic.analysis_runs: {
            "run_created",
            "run_started",
            "progress_updated",
            "proposals_created",
            "proposals_withdrawn",
            "run_completed",
            "run_failed",
            "run_cancelled",
            "run_reviewed",
            "run_closed",
        },
        Topic.proposals: {"approved", "rejected", "merged", "updated"},
        Topic.tasks: {"task_created", "task_updated"},
    }


@pytest.mark.parametrize("model", list(EVENT_MODELS.values()), ids=lambda m: m.__name__)
def test_event_round_trips_through_the_wire(model: type[EventPayload]) -> None:
    payload = SAMPLES[model]()
    envelope = make_envelope(payload, project_id=42, producer="test")
    assert (envelope.topic, envelope.type) == (model.topic, model.event_type)
    assert envelope.subject == f"space.42.{model.topic}.{model.event_type}"

    raw = Envelope.from_bytes(envelope.to_bytes())
    assert raw.data == payload.model_dump(mode="json")
    assert (raw.id, raw.occurred_at, raw.producer) == (
        envelope.id,
        envelope.occurred_at,
        envelope.producer,
    )
    decoded = decode_event(raw)
    assert type(decoded) is model
    assert decoded == payload

    typed = decode_envelope(envelope.to_bytes())
    assert typed.data == payload
    assert typed.to_bytes() == envelope.to_bytes()

    published = decode_published(envelope.to_bytes(), envelope.subject)
    assert type(published.data) is model
    assert published == typed
    assert published.to_bytes() == envelope.to_bytes()


def test_make_envelope_keeps_the_given_id_and_time() -> None:
    event_id = uuid4()
    envelope = make_envelope(
        SAMPLES[RunStarted](), project_id=1, producer="analysis", occurred_at=START, id=event_id
    )
    assert envelope.id == event_id
    assert envelope.msg_id == str(event_id)
    assert envelope.occurred_at == START


def test_decode_event_returns_an_already_typed_payload_as_is() -> None:
    payload = SAMPLES[RunStarted]()
    assert decode_event(make_envelope(payload, project_id=1, producer="p")) is payload


def test_knowledge_events_carry_keywords_sources_and_the_attached_topic() -> None:
    """Extraction proposes topics with keywords and sources, and atoms of the seven kinds of
    issue 8 that attach to a topic proposal or an existing topic; older payloads still parse."""
    topic_proposal = uuid4()
    event = KnowledgeProposalsCreated(
        extraction_id=EXTRACTION_ID,
        topics=[
            TopicProposalData(
                proposal_id=topic_proposal,
                name="Webhook timeout",
                description="",
                keywords=["webhook", "timeout"],
                source_message_ids=[1, 2],
            )
        ],
        atoms=[
            AtomProposalData(
                proposal_id=uuid4(),
                topic_name="Webhook timeout",
                topic_proposal_id=topic_proposal,
                kind=kind,
                title="t",
                content="c",
                source_message_ids=[2],
                confidence=0.6,
            )
            for kind in ("problem", "solution", "insight")
        ],
    )
    again = KnowledgeProposalsCreated.model_validate_json(event.model_dump_json())
    assert again == event
    assert (
        TopicProposalData.model_validate(
            {"proposal_id": str(topic_proposal), "name": "Auth", "description": ""}
        ).keywords
        == []
    )
    created = AtomCreated(
        atom_id=1, kind=AtomKind.solution, title="t", content="", source_message_ids=[1]
    )
    assert created.proposal_id is None and created.confidence is None

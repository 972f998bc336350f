"""Typed payloads of every event (DESIGN.md §2), one module per topic, and their registry."""

from tasktracker.contracts.events.analysis_runs import (
    ProgressUpdated,
    RunCancelled,
    RunClosed,
    RunCompleted,
    RunCreated,
    RunFailed,
    RunMetrics,
    RunStarted,
    TaskProposalData,
    TaskProposalsCreated,
)
from tasktracker.contracts.events.base import EventPayload
from tasktracker.contracts.events.knowledge_extraction import (
    AtomProposalData,
    ExtractionCompleted,
    ExtractionFailed,
    ExtractionStarted,
    KnowledgeProposalsCreated,
    TopicProposalData,
)
from tasktracker.contracts.events.messages import (
    ChatBound,
    MessageAuthor,
    MessageRecord,
    MessageUpdated,
    ProjectConfigured,
    ProjectSettings,
)
from tasktracker.contracts.events.proposals import (
    ProposalApproved,
    ProposalMerged,
    ProposalRejected,
    ProposalUpdated,
    RunCounters,
)
from tasktracker.contracts.events.registry import (
    EVENT_MODELS,
    InvalidEventError,
    UnknownEventError,
    decode_envelope,
    decode_event,
    event_model,
    make_envelope,
)
from tasktracker.contracts.events.topics import AtomCreated, TopicCreated

__all__ = [
    "EVENT_MODELS",
    "AtomCreated",
    "AtomProposalData",
    "ChatBound",
    "EventPayload",
    "ExtractionCompleted",
    "ExtractionFailed",
    "ExtractionStarted",
    "InvalidEventError",
    "KnowledgeProposalsCreated",
    "MessageAuthor",
    "MessageRecord",
    "MessageUpdated",
    "ProgressUpdated",
    "ProjectConfigured",
    "ProjectSettings",
    "ProposalApproved",
    "ProposalMerged",
    "ProposalRejected",
    "ProposalUpdated",
    "RunCancelled",
    "RunClosed",
    "RunCompleted",
    "RunCounters",
    "RunCreated",
    "RunFailed",
    "RunMetrics",
    "RunStarted",
    "TaskProposalData",
    "TaskProposalsCreated",
    "TopicCreated",
    "TopicProposalData",
    "UnknownEventError",
    "decode_envelope",
    "decode_event",
    "event_model",
    "make_envelope",
]

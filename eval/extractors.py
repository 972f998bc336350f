"""The extractors under test, run in-process through the services' own pydantic-ai agents (the
offline rules as a `FunctionModel`, or any model string), cut into chunks and batches the way
the knowledge and analysis jobs cut them; and the naive baseline beside them."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic_ai.models import Model

from eval.chat import LabelledChat, Message
from eval.scoring import Group, Proposal
from tasktracker.analysis import agent as analysis_agent
from tasktracker.analysis.domain import proposals as analysis_io
from tasktracker.analysis.domain.batching import (
    DEFAULT_GAP_MINUTES,
    DEFAULT_MAX_MESSAGES,
    Timed,
    plan_batches,
)
from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.contracts.events import TaskProposalData
from tasktracker.knowledge import agent as knowledge_agent
from tasktracker.knowledge.domain import extraction as knowledge_io
from tasktracker.knowledge.settings import KnowledgeSettings

RUN_ID = uuid.UUID(int=13)


@dataclass
class Output:
    """What one extractor produced for one chat, and what it cost."""

    proposals: list[Proposal] = field(default_factory=list)
    topics: list[Group] = field(default_factory=list)
    atoms: list[Group] = field(default_factory=list)
    model_calls: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelChoice:
    """`None` for each service's offline rules, else a pydantic-ai model string; or a model
    object per step (a stand-in `FunctionModel` in tests)."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    knowledge_model: Model | None = None
    analysis_model: Model | None = None

    def knowledge_settings(self) -> KnowledgeSettings:
        if self.model is None:
            return KnowledgeSettings()
        return KnowledgeSettings(
            llm_model=self.model, llm_base_url=self.base_url, llm_api_key=self.api_key
        )

    def analysis_settings(self) -> AnalysisSettings:
        if self.model is None:
            return AnalysisSettings()
        return AnalysisSettings(
            llm_model=self.model, llm_base_url=self.base_url, llm_api_key=self.api_key
        )


async def run_extractor(chat: LabelledChat, choice: ModelChoice) -> Output:
    started = time.perf_counter()
    output = Output()
    knowledge = await _knowledge(chat.messages, choice, output)
    await _tasks(chat, choice, knowledge, output)
    output.seconds = time.perf_counter() - started
    return output


async def _knowledge(
    messages: list[Message], choice: ModelChoice, output: Output
) -> knowledge_io.Extraction:
    settings = choice.knowledge_settings()
    agent = knowledge_agent.build_agent(settings, choice.knowledge_model)
    lines = [knowledge_io.ChatLine(m.id, m.author, m.text, m.sent_at, m.reply_to) for m in messages]
    topics: dict[str, knowledge_io.TopicDraft] = {}
    atoms: list[knowledge_io.AtomDraft] = []
    for chunk in knowledge_io.chunks(lines, settings.extraction_chunk_size):
        result = await agent.run(knowledge_io.render_prompt(chunk))
        output.model_calls += result.usage.requests
        allowed = {line.id for line in chunk}
        for topic in result.output.topics:
            ids = knowledge_io.cited(topic.message_ids, allowed)
            key = knowledge_io.name_key(topic.name)
            if key in topics:  # the same topic name in a later chunk is the same topic
                ids = [*topics[key].message_ids, *ids]
            topics[key] = topic.model_copy(update={"message_ids": ids})
        for atom in result.output.atoms:
            ids = knowledge_io.cited(atom.message_ids, allowed)
            if ids:
                atoms.append(atom.model_copy(update={"message_ids": ids}))
    output.topics = [Group(t.name, frozenset(t.message_ids)) for t in topics.values()]
    output.atoms = [Group(a.title, frozenset(a.message_ids), str(a.kind)) for a in atoms]
    return knowledge_io.Extraction(topics=list(topics.values()), atoms=atoms)


async def _tasks(
    chat: LabelledChat, choice: ModelChoice, knowledge: knowledge_io.Extraction, output: Output
) -> None:
    """As the analysis worker runs it (`agent.propose` per batch, the run's earlier proposals
    as context, a withdrawn proposal gone from the run), with all the extracted knowledge
    approved and given as context as `make demo` does; batches one after another, as a
    project's default concurrency of 1 runs them."""
    agent = analysis_agent.build_agent(choice.analysis_settings(), choice.analysis_model)
    context = analysis_io.Context(
        members=chat.members,
        topics=[t.name for t in knowledge.topics],
        atoms=[f"{a.title}: {a.content}"[:300] for a in knowledge.atoms],
    )
    by_id = {m.id: m for m in chat.messages}
    batches = plan_batches(
        [Timed(m.id, m.sent_at) for m in chat.messages],
        gap=timedelta(minutes=DEFAULT_GAP_MINUTES),
        max_size=DEFAULT_MAX_MESSAGES,
    )
    earlier: list[TaskProposalData] = []  # the run's proposals so far, not withdrawn
    for index, ids in enumerate(batches):
        lines = [
            analysis_io.ChatLine(m.id, m.author, m.text, m.sent_at, m.username)
            for m in (by_id[i] for i in ids)
        ]
        batch_context = context.with_earlier([(p.title, p.source_message_ids) for p in earlier])
        cleaned, requests = await analysis_agent.propose(
            agent, batch_context, lines, run_id=RUN_ID, batch_index=index
        )
        output.model_calls += requests
        withdrawn = {earlier[ref - 1].proposal_id for ref in cleaned.withdrawn}
        earlier = sorted(  # the worker's order: runs.earlier_proposals
            [p for p in earlier if p.proposal_id not in withdrawn] + cleaned.proposals,
            key=lambda p: (p.batch_index, p.source_message_ids, p.proposal_id),
        )
    output.proposals = [
        Proposal(p.title, tuple(p.source_message_ids), p.assignee, p.due_date) for p in earlier
    ]


# The floor: a task for every message with a task word in it, titled by the message.
_TASK_WORD = re.compile(
    r"\b(fix|add|update|remove|need|needs|should|must|please|todo|can you|could you|i'll|"
    r"i will|will do|bug)\b",
    re.I,
)


# … an atom for every message with a kind word, a topic for every stretch of talk.
_KIND_WORDS = (
    ("decision", re.compile(r"\b(decision|decided|agreed|let's)\b", re.I)),
    ("problem", re.compile(r"\b(bug|error|fails?|failed|broken|times? out|timeout)\b", re.I)),
    ("question", re.compile(r"\?")),
)


def run_baseline(chat: LabelledChat) -> Output:
    started = time.perf_counter()
    proposals = [Proposal(m.text, (m.id,)) for m in chat.messages if _TASK_WORD.search(m.text)]
    atoms = [
        Group(m.text, frozenset({m.id}), kind)
        for m in chat.messages
        if (kind := next((k for k, p in _KIND_WORDS if p.search(m.text)), None))
    ]
    batches = plan_batches([Timed(m.id, m.sent_at) for m in chat.messages])
    topics = [Group(f"talk {i}", frozenset(ids)) for i, ids in enumerate(batches) if len(ids) > 1]
    return Output(proposals, topics, atoms, seconds=time.perf_counter() - started)

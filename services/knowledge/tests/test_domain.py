"""The pure rules: chunks, topic names, cited ids, twin topics, the offline extractor."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tasktracker.contracts.enums import AtomKind
from tasktracker.knowledge.domain import offline_rules
from tasktracker.knowledge.domain.extraction import (
    AtomDraft,
    ChatLine,
    Extraction,
    TopicDraft,
    chunks,
    cited,
    name_key,
    parse_prompt,
    render_prompt,
)
from tasktracker.knowledge.domain.proposals import KnownTopic, plan_chunk

SAMPLE_CHAT = Path(__file__).parents[3] / "deploy" / "local" / "sample_chat.json"
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def sample_lines() -> list[ChatLine]:
    chat = json.loads(SAMPLE_CHAT.read_text())
    names = {key: person["first_name"] for key, person in chat["people"].items()}
    return [
        ChatLine(id=i + 1, author=names[who], text=text, sent_at=T0 + timedelta(minutes=minute))
        for i, (minute, who, text) in enumerate(chat["messages"])
    ]


def test_chunks_keep_order_and_size() -> None:
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([], 3) == []


def test_topic_names_match_ignoring_case_and_whitespace() -> None:
    assert name_key("  Webhook   Timeout ") == name_key("webhook timeout")
    assert name_key("Webhook") != name_key("Webhooks")


def test_invented_ids_are_dropped_once_each() -> None:
    assert cited([3, 99, 3, 1], {1, 2, 3}) == [3, 1]


def test_plan_drops_invented_ids_and_attaches_twins() -> None:
    pending = uuid.uuid4()
    answer = Extraction(
        topics=[
            TopicDraft(name="Webhook  timeout", message_ids=[1, 2, 404]),  # pending twin
            TopicDraft(name="billing", message_ids=[3]),  # an approved topic
            TopicDraft(name="Refunds", message_ids=[4]),
            TopicDraft(name="REFUNDS", message_ids=[5]),  # twice in one answer
            TopicDraft(name="Ghost", message_ids=[777]),  # nothing real cited
        ],
        atoms=[
            AtomDraft(
                kind=AtomKind.problem, title="t", topic_name="webhook timeout", message_ids=[2, 9]
            ),
            AtomDraft(kind=AtomKind.fact, title="t", topic_name="Billing", message_ids=[3]),
            AtomDraft(kind=AtomKind.decision, title="t", topic_name="refunds", message_ids=[5]),
            AtomDraft(kind=AtomKind.question, title="t", message_ids=[888]),
        ],
    )
    known = {"webhook timeout": KnownTopic(proposal_id=pending), "billing": KnownTopic(topic_id=7)}
    plan = plan_chunk(answer, {1, 2, 3, 4, 5}, known)
    assert [(t.name, t.message_ids) for t in plan.topics] == [("Refunds", [4, 5])]
    assert plan.attached == {pending: [1, 2]}
    assert [(a.topic_proposal_id, a.topic_id, a.message_ids) for a in plan.atoms] == [
        (pending, None, [2]),
        (None, 7, [3]),
        (plan.topics[0].proposal_id, None, [5]),
    ]
    assert plan.dropped_ids == 4


def test_prompt_round_trips() -> None:
    lines = sample_lines()[:3]
    assert parse_prompt(render_prompt(lines)) == lines


def test_offline_rules_on_the_sample_chat() -> None:
    """Topics group related messages; atoms are the lines a lead would keep."""
    result = offline_rules.extract(sample_lines())
    topics = {t.name: t.message_ids for t in result.topics}
    assert topics["Webhook"] == [2, 4]
    assert topics["Order summary page"] == [6, 7]
    assert topics["Gift card"] == [17, 18, 19]
    kinds = {a.message_ids[0]: a.kind for a in result.atoms}
    assert kinds[7] == AtomKind.decision  # "Decision: we ship ... behind a feature flag"
    assert kinds[8] == AtomKind.problem  # "Bug: the promo code field accepts expired codes"
    assert 12 not in kinds  # "Can someone review …?" answered at once: a task, no knowledge
    assert kinds[14] == AtomKind.requirement  # "We should also add monitoring"
    assert kinds[11] == AtomKind.fact  # "migration runs tonight at 22:00 UTC"
    assert 10 not in kinds and 13 not in kinds  # "Sure, I'll file it today.", "@dara I'll review"
    titles = {a.message_ids[0]: a.title for a in result.atoms}
    assert titles[7] == "We ship the new order summary page behind a feature flag"
    assert offline_rules.extract(sample_lines()) == result  # deterministic


def test_offline_rules_kinds() -> None:
    def kind(text: str) -> AtomKind | None:
        atom = offline_rules.classify(ChatLine(id=1, author="a", text=text, sent_at=T0))
        return atom.kind if atom else None

    assert kind("We decided to drop the legacy API") == AtomKind.decision
    assert kind("Let's use Postgres for the queue") == AtomKind.decision
    assert kind("The export job fails on large files") == AtomKind.problem
    assert kind("Fixed it with a workaround in the proxy") == AtomKind.solution
    assert kind("Who owns the billing service?") == AtomKind.question
    assert kind("Every endpoint must check the token") == AtomKind.requirement
    assert kind("Turns out the cache was never warm") == AtomKind.insight
    assert kind("The cluster has 12 nodes now") == AtomKind.fact
    assert kind("Thanks!") is None
    # a request to a person is a task for the analysis step, not knowledge
    assert kind("Please share the dashboard link in the release notes") is None
    assert kind("Scratch the secret scanner idea, the vendor ships one") == AtomKind.decision
    assert kind("The VPN work is cancelled for this release") == AtomKind.decision


def test_a_question_answered_in_the_chunk_is_no_atom_its_answer_may_be() -> None:
    lines = [
        ChatLine(id=1, author="a", text="Does the new monitoring cost more?", sent_at=T0),
        ChatLine(
            id=2,
            author="b",
            text="About the same, 40 EUR a month",
            sent_at=T0 + timedelta(minutes=1),
        ),
        ChatLine(
            id=3,
            author="a",
            text="Who owns the billing service?",
            sent_at=T0 + timedelta(minutes=2),
        ),
    ]
    kinds = {a.message_ids[0]: a.kind for a in offline_rules.extract(lines).atoms}
    assert kinds == {2: AtomKind.fact, 3: AtomKind.question}


def test_one_subject_seeded_twice_in_a_chunk_is_one_topic() -> None:
    """ "Staging migration" seeds a topic, and "migration" an hour later would seed a second:
    the later group's seed words are the earlier's, so it joins it."""
    said = [
        (0, "The staging migration starts at 22:00 tonight"),
        (1, "Staging migration needs the read replica paused"),
        (60, "Migration of the billing tables went fine"),
        (61, "The migration took twelve minutes in total"),
    ]
    lines = [
        ChatLine(id=n, author="a", text=text, sent_at=T0 + timedelta(minutes=minute))
        for n, (minute, text) in enumerate(said, 1)
    ]
    topics = offline_rules.extract(lines).topics
    assert [(t.name, t.message_ids) for t in topics] == [("Staging migration", [1, 2, 3, 4])]

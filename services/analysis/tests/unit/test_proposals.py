"""The rules every answer passes, and the offline task extractor."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from tasktracker.analysis.domain.offline_tasks import extract
from tasktracker.analysis.domain.proposals import (
    ChatLine,
    Context,
    TaskDraft,
    TaskProposals,
    Withdrawal,
    clean,
    parse_prompt,
    render_prompt,
)
from tasktracker.contracts.enums import Category, Priority

MONDAY = datetime(2026, 1, 5, 9, tzinfo=UTC)
RUN = uuid.UUID(int=1)


def line(id: int, text: str, *, author: str = "Anna", username: str | None = "anna") -> ChatLine:
    return ChatLine(id=id, author=author, text=text, sent_at=MONDAY, username=username)


def test_invented_ids_are_dropped_and_a_task_citing_none_of_the_batch_is_dropped() -> None:
    answer = TaskProposals(
        tasks=[
            TaskDraft(title="Fix login", message_ids=[1, 99, 1, 2]),
            TaskDraft(title="Imagined", message_ids=[404]),
        ]
    )
    cleaned = clean(answer, run_id=RUN, batch_index=3, allowed={1, 2}, members=[])
    assert [p.source_message_ids for p in cleaned.proposals] == [[1, 2]]
    assert cleaned.proposals[0].batch_index == 3 and cleaned.dropped == 2


def test_an_assignee_must_be_a_member_of_the_chat() -> None:
    answer = TaskProposals(
        tasks=[
            TaskDraft(title="a", message_ids=[1], assignee="@Boris"),
            TaskDraft(title="b", message_ids=[1], assignee="mallory"),
        ]
    )
    cleaned = clean(answer, run_id=RUN, batch_index=0, allowed={1}, members=["boris"])
    assert [p.assignee for p in cleaned.proposals] == ["boris", None]


def test_proposal_ids_are_the_same_on_every_try() -> None:
    answer = TaskProposals(tasks=[TaskDraft(title="a", message_ids=[1])])
    first = clean(answer, run_id=RUN, batch_index=0, allowed={1}, members=[])
    again = clean(answer, run_id=RUN, batch_index=0, allowed={1}, members=[])
    assert first.proposals[0].proposal_id == again.proposals[0].proposal_id


def test_a_task_stated_again_is_not_proposed_twice_and_a_withdrawal_needs_a_known_ref() -> None:
    earlier = Context().with_earlier([("Renew the cert", [3]), ("Prototype the DNS", [4])])
    answer = TaskProposals(
        tasks=[
            TaskDraft(title="Renew the cert, again", message_ids=[10], same_as=1),
            TaskDraft(title="Prototype it", message_ids=[11], same_as=2),  # also withdrawn
            TaskDraft(title="New work", message_ids=[12], same_as=9),  # no such ref: new
        ],
        withdrawn=[
            Withdrawal(ref=2, message_ids=[13, 13, 404]),
            Withdrawal(ref=7, message_ids=[13]),  # no such ref
            Withdrawal(ref=1, message_ids=[404]),  # cites nothing of the batch
        ],
    )
    cleaned = clean(
        answer,
        run_id=RUN,
        batch_index=5,
        allowed={10, 11, 12, 13},
        members=[],
        earlier=earlier.earlier,
    )
    assert [p.title for p in cleaned.proposals] == ["New work"]
    assert cleaned.restated == {1: [10]}
    assert cleaned.withdrawn == {2: [13]}
    assert cleaned.dropped == 2  # 404 twice


def test_the_prompt_round_trips() -> None:
    context = Context(
        members=["anna"], topics=["Webhook"], atoms=["decision: queue it"]
    ).with_earlier([("Fix the webhook timeout", [7, 9])])
    lines = [line(1, "Fix the webhook"), line(2, "ok", username=None)]
    assert parse_prompt(render_prompt(context, lines)) == (context, lines)


def test_offline_rules_find_requests_assignees_dates_bugs_and_urgency() -> None:
    context = Context(members=["boris", "anna"], topics=["webhook"])
    lines = [
        line(1, "Morning all!"),
        line(2, "@boris can you fix the webhook timeout by Thursday? It fails with a 504"),
        line(3, "I'll write the release notes tomorrow"),
        line(4, "TODO: add an export button, nice to have"),
        line(5, "Urgent: rotate the leaked API key asap"),
        line(6, "Could someone investigate why search is slow"),
        line(7, "thanks!"),
    ]
    tasks = {t.message_ids[0]: t for t in extract(context, lines).tasks}
    assert set(tasks) == {2, 3, 4, 5, 6}  # greetings and thanks ask for nothing

    webhook = tasks[2]
    assert webhook.assignee == "boris" and webhook.due_date == date(2026, 1, 8)
    assert webhook.category is Category.bug and webhook.priority is Priority.high
    assert "webhook" in webhook.tags
    assert webhook.title.startswith("Fix the webhook timeout")

    notes = tasks[3]
    assert notes.assignee == "anna" and notes.due_date == date(2026, 1, 6)
    assert tasks[4].priority is Priority.low and tasks[4].category is Category.feature
    assert tasks[5].priority is Priority.critical and tasks[5].category is Category.chore
    assert tasks[6].category is Category.improvement
    assert all(t.reasoning.startswith("offline rules:") for t in tasks.values())
    assert extract(context, lines) == extract(context, lines)  # deterministic

"""Scoring on hand-computed cases: one-to-one matching, duplicates counted once, cancelled
tasks as false positives, topic and atom matching."""

from __future__ import annotations

from datetime import date

import pytest

from eval.scoring import (
    Group,
    LabelledTask,
    Proposal,
    score_atoms,
    score_tasks,
    score_topics,
    title_similarity,
)

WEBHOOK = LabelledTask(
    "webhook", "Fix the webhook timeout", frozenset({1, 2}), assignee="boris", due=date(2025, 3, 6)
)
RUNBOOK = LabelledTask(
    "runbook", "Update the status page runbook", frozenset({5, 9}), assignee="gus"
)
APPLE_PAY = LabelledTask("applepay", "Ship Apple Pay this release", frozenset({7}))


def test_title_similarity_is_shared_content_words_over_the_shorter_title() -> None:
    # {fix, webhook, timeout} vs {webhook, timeout, block, release}: 2 shared of 3
    assert title_similarity("Fix the webhook timeout", "webhook timeout blocks the release") == (
        pytest.approx(2 / 3)
    )
    assert title_similarity("Lunch?", "Fix the webhook timeout") == 0


def test_duplicates_count_once_and_cancelled_tasks_are_false_positives() -> None:
    proposals = [
        Proposal("Please fix the webhook timeout", (2,), "boris", date(2025, 3, 6)),  # hit
        Proposal("Webhook timeout fix", (1,), None),  # the same task again: duplicate
        Proposal("Update the status page runbook", (9,), "anna"),  # hit, wrong assignee
        Proposal("Ship Apple Pay", (7,)),  # a cancelled task: false positive
        Proposal("Lunch at the ramen place", (3,)),  # chatter: false positive
        Proposal("Update the runbook", (4,)),  # similar title, cites none of its messages: FP
    ]
    score = score_tasks(proposals, [WEBHOOK, RUNBOOK], cancelled=[APPLE_PAY])
    assert (score.hits, score.duplicates, score.false_positives) == (2, 1, 3)
    assert score.cancelled_proposed == 1
    assert score.precision == pytest.approx(2 / 5)
    assert score.recall == 1.0
    assert score.f1 == pytest.approx(2 * 0.4 * 1 / 1.4)
    assert score.assignee_accuracy == 0.5  # boris right, anna wrong
    # webhook's date right; runbook states none and the proposal invents none: right too
    assert score.due_accuracy == 1.0
    assert score.matched == {0: "webhook", 2: "runbook"}


def test_each_task_matches_at_most_once_best_title_first() -> None:
    # Both cite message 1; the closer title takes the task, the other is a duplicate.
    proposals = [Proposal("Look at the timeout", (1,)), Proposal("Fix the webhook timeout", (1,))]
    score = score_tasks(proposals, [WEBHOOK])
    assert score.matched == {1: "webhook"}
    assert (score.hits, score.duplicates, score.false_positives) == (1, 1, 0)


def test_an_accepted_phrasing_matches_like_the_title() -> None:
    task = LabelledTask("t", "Fix the webhook timeout", frozenset({1}), also=("receipt email",))
    score = score_tasks([Proposal("Move the receipt email to a job", (1,))], [task])
    assert score.hits == 1


def test_no_proposals_scores_zero_without_dividing_by_zero() -> None:
    score = score_tasks([], [WEBHOOK])
    assert (score.precision, score.recall, score.f1, score.assignee_accuracy) == (0, 0, 0, 0)


def test_topics_match_one_to_one_by_jaccard() -> None:
    labelled = [Group("webhook", frozenset({1, 2, 3, 4})), Group("promo", frozenset({5, 6}))]
    predicted = [
        Group("a", frozenset({1, 2, 3})),  # jaccard 3/4 with webhook
        Group("b", frozenset({2, 3, 9, 10, 11, 12})),  # 2/8 = 0.25 < 0.3: no match
        Group("c", frozenset({5, 6, 7})),  # 2/3 with promo
    ]
    score = score_topics(predicted, labelled)
    assert (score.hits, score.precision, score.recall) == (2, pytest.approx(2 / 3), 1.0)
    # messages: right 3 + 2 of 3 + 6 + 3 cited; 5 of 6 labelled covered
    assert score.message_precision == pytest.approx(5 / 12)
    assert score.message_recall == pytest.approx(5 / 6)


def test_atoms_match_by_shared_message_and_report_kind_accuracy() -> None:
    labelled = [
        Group("timeout", frozenset({1}), "problem"),
        Group("decision", frozenset({2, 3}), "decision"),
    ]
    predicted = [
        Group("x", frozenset({1}), "problem"),
        Group("y", frozenset({3}), "requirement"),  # matched, wrong kind
        Group("z", frozenset({1}), "fact"),  # message 1 already matched: false positive
        Group("w", frozenset({8}), "fact"),
    ]
    score = score_atoms(predicted, labelled)
    assert (score.hits, score.precision, score.recall) == (2, 0.5, 1.0)
    assert score.kind_accuracy == 0.5
    assert score.message_recall == pytest.approx(2 / 3)

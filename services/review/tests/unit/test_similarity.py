"""Merge suggestions: rephrasings of one task match, distinct tasks of one chat do not."""

from __future__ import annotations

import pytest

from tasktracker.review.domain.similarity import (
    DEFAULT_THRESHOLD,
    Text,
    best_match,
    best_matches,
    similarity,
)

DUPLICATES = [
    ("Fix the login redirect", "Fix login redirect bug"),
    ("Fix the refund flow for gift cards", "Refund flow fails with gift card"),
    ("Update the README", "update the readme!"),
]
DISTINCT = [
    ("Fix the login redirect", "Add monitoring for the webhook queue"),
    ("Review accessibility fixes", "Fix the refund flow for gift cards"),
    ("Deploy staging migration", "Fix the login redirect"),
    ("Fix the webhook timeout", "Fix the login redirect"),
]


@pytest.mark.parametrize(("a", "b"), DUPLICATES)
def test_rephrasings_score_above_the_threshold(a: str, b: str) -> None:
    assert similarity(Text(a), Text(b)) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(("a", "b"), DISTINCT)
def test_distinct_tasks_score_below_it(a: str, b: str) -> None:
    assert similarity(Text(a), Text(b)) < DEFAULT_THRESHOLD - 15


def test_descriptions_weigh_in_when_both_have_one() -> None:
    same_title = Text("Fix the webhook", "The webhook times out under load")
    other_cause = Text("Fix the webhook", "Telegram sends the wrong secret header")
    assert similarity(same_title, Text("Fix the webhook", "webhook times out under load")) > (
        similarity(same_title, other_cause)
    )
    assert similarity(Text("Fix the webhook"), other_cause) == 100


def test_best_match_takes_the_highest_score_over_the_threshold() -> None:
    query = Text("Fix login redirect bug")
    candidates = [
        (1, Text("Add monitoring for the webhook queue")),
        (2, Text("Fix the login redirect")),
        (3, Text("Fix the login redirect page title")),
    ]
    match = best_match(query, candidates)
    assert match is not None and match.key == 2 and match.score >= DEFAULT_THRESHOLD
    assert best_match(query, candidates[:1]) is None
    assert best_match(query, []) is None


def test_many_queries_at_once_match_as_one_at_a_time() -> None:
    candidates = [(n, Text(title)) for n, (title, _) in enumerate(DUPLICATES + DISTINCT)]
    queries = [Text(b) for _, b in DUPLICATES + DISTINCT]
    assert best_matches(queries, candidates) == [best_match(q, candidates) for q in queries]
    assert best_matches(queries, []) == [None] * len(queries)

"""Merge suggestions: the most similar open task (or earlier proposal) of the project.

Scored with rapidfuzz's `token_set_ratio` (0-100, word order and repeated words ignored,
case and punctuation folded by `default_process`): titles weigh 70 %, descriptions 30 % when
both have one, else the title alone. A candidate is suggested from `DEFAULT_THRESHOLD` (70)
up, the `TT_REVIEW_SIMILARITY_THRESHOLD` setting. On the sample titles of
tests/unit/test_similarity.py, rephrasings of one task score 80-90 and distinct tasks of one
chat stay under 50; looser rephrasings (~65) are not suggested: a missed suggestion costs the
reviewer a search, a wrong one invites a wrong merge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rapidfuzz import fuzz, utils

DEFAULT_THRESHOLD = 70.0
TITLE_WEIGHT = 0.7

K = TypeVar("K")


@dataclass(frozen=True)
class Text:
    title: str
    description: str = ""


@dataclass(frozen=True)
class Match(Generic[K]):
    key: K
    score: float


def similarity(a: Text, b: Text) -> float:
    title = fuzz.token_set_ratio(a.title, b.title, processor=utils.default_process)
    if not (a.description.strip() and b.description.strip()):
        return title
    description = fuzz.token_set_ratio(
        a.description, b.description, processor=utils.default_process
    )
    return TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * description


def best_match(
    query: Text, candidates: Iterable[tuple[K, Text]], threshold: float = DEFAULT_THRESHOLD
) -> Match[K] | None:
    """The highest-scoring candidate at or above `threshold` (the first on a tie), or None."""
    best: Match[K] | None = None
    for key, text in candidates:
        score = similarity(query, text)
        if score >= threshold and (best is None or score > best.score):
            best = Match(key, round(score, 1))
    return best

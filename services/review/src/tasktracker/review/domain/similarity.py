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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rapidfuzz import fuzz, process, utils

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
    query: Text, candidates: Sequence[tuple[K, Text]], threshold: float = DEFAULT_THRESHOLD
) -> Match[K] | None:
    """The highest-scoring candidate at or above `threshold` (the first on a tie), or None."""
    return best_matches([query], candidates, threshold)[0]


def best_matches(
    queries: Sequence[Text],
    candidates: Sequence[tuple[K, Text]],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Match[K] | None]:
    """`best_match` of each query. Each query's title is compared with every candidate's in
    one `rapidfuzz.process.extract` call (a C loop), cut off where even a perfect description
    could not lift the weighted score to `threshold`; only the survivors are fully scored."""
    title_floor = max(0.0, (threshold - (1 - TITLE_WEIGHT) * 100) / TITLE_WEIGHT)
    titles = [text.title for _, text in candidates]
    found: list[Match[K] | None] = []
    for query in queries:
        best: Match[K] | None = None
        survivors = process.extract(
            query.title,
            titles,
            scorer=fuzz.token_set_ratio,
            processor=utils.default_process,
            score_cutoff=title_floor,
            limit=None,
        )
        for _, _, index in sorted(survivors, key=lambda survivor: survivor[2]):
            key, text = candidates[index]
            score = similarity(query, text)
            if score >= threshold and (best is None or score > best.score):
                best = Match(key, round(score, 1))
        found.append(best)
    return found

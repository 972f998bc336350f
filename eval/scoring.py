"""How extracted tasks, topics and atoms are scored against hand labels.

Tasks: a proposal matches a labelled task when it cites at least one of the task's messages
and its title is similar (`title_similarity` ≥ `TITLE_THRESHOLD` against the task's title or
one of its accepted phrasings). Matching is one-to-one, best pairs first. A further proposal
of an already matched task is a duplicate: it counts once (neither a hit nor a false
positive) and is reported in its own column. A proposal of a task the chat cancelled is a
false positive, counted apart too. Precision = hits / (hits + false positives).

Topics: one-to-one by the Jaccard index of their message sets (≥ `TOPIC_THRESHOLD`); precision
and recall of topics, and of the messages they cite (a predicted topic's message is right when
it lies in the labelled topic it matched).

Atoms: one-to-one by shared cited messages, same kind preferred; kind accuracy over matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

TITLE_THRESHOLD = 0.34
TOPIC_THRESHOLD = 0.3

_WORD = re.compile(r"[a-z0-9][a-z0-9_]*")
_STOPWORD_TEXT = """
    a an the and or but to of in on at for from by with into out up as is are be it its
    this that these those we you i he she they our your my me us can could would should will
    shall please need needs must have has do does did not no so then than if when before after
    today tomorrow tonight all any some one also just now still new"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class LabelledTask:
    id: str
    title: str
    messages: frozenset[int]
    also: tuple[str, ...] = ()
    assignee: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Proposal:
    title: str
    message_ids: tuple[int, ...]
    assignee: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Group:
    """A labelled or predicted topic or atom: the messages it cites and (atoms) its kind."""

    name: str
    messages: frozenset[int]
    kind: str | None = None


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def title_similarity(a: str, b: str) -> float:
    """Shared content words over the shorter title's: 1.0 when one title's words are all in
    the other's."""
    left, right = words(a), words(b)
    return _ratio(len(left & right), min(len(left), len(right)))


def task_similarity(proposal: Proposal, task: LabelledTask) -> float:
    """0 unless the proposal cites one of the task's messages; else the best title similarity."""
    if not task.messages & set(proposal.message_ids):
        return 0.0
    return max(title_similarity(proposal.title, t) for t in (task.title, *task.also))


@dataclass
class TaskScore:
    proposals: int
    tasks: int
    hits: int
    false_positives: int
    duplicates: int
    cancelled_proposed: int
    assignee_right: int
    due_right: int
    matched: dict[int, str] = field(default_factory=dict)  # proposal index → task id

    @property
    def precision(self) -> float:
        return _ratio(self.hits, self.hits + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.hits, self.tasks)

    @property
    def f1(self) -> float:
        return f1(self.precision, self.recall)

    @property
    def assignee_accuracy(self) -> float:
        return _ratio(self.assignee_right, self.hits)

    @property
    def due_accuracy(self) -> float:
        return _ratio(self.due_right, self.hits)


def score_tasks(
    proposals: Sequence[Proposal],
    tasks: Sequence[LabelledTask],
    cancelled: Sequence[LabelledTask] = (),
) -> TaskScore:
    pairs = sorted(
        (
            (sim, -p_index, t_index)
            for p_index, proposal in enumerate(proposals)
            for t_index, task in enumerate(tasks)
            if (sim := task_similarity(proposal, task)) >= TITLE_THRESHOLD
        ),
        reverse=True,
    )
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for _, neg_p, t_index in pairs:
        if -neg_p not in matched and t_index not in taken:
            matched[-neg_p] = t_index
            taken.add(t_index)
    similar_to_a_task = {-neg_p for _, neg_p, _ in pairs}
    duplicates = cancelled_proposed = false_positives = 0
    for index, proposal in enumerate(proposals):
        if index in matched:
            continue
        if index in similar_to_a_task:
            duplicates += 1
            continue
        false_positives += 1
        if any(task_similarity(proposal, c) >= TITLE_THRESHOLD for c in cancelled):
            cancelled_proposed += 1
    assignee_right = sum(
        (proposals[p].assignee or None) == tasks[t].assignee for p, t in matched.items()
    )
    due_right = sum(proposals[p].due == tasks[t].due for p, t in matched.items())
    return TaskScore(
        proposals=len(proposals),
        tasks=len(tasks),
        hits=len(matched),
        false_positives=false_positives,
        duplicates=duplicates,
        cancelled_proposed=cancelled_proposed,
        assignee_right=assignee_right,
        due_right=due_right,
        matched={p: tasks[t].id for p, t in matched.items()},
    )


@dataclass
class GroupScore:
    predicted: int
    labelled: int
    hits: int
    message_precision: float
    message_recall: float
    kind_right: int = 0

    @property
    def precision(self) -> float:
        return _ratio(self.hits, self.predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.hits, self.labelled)

    @property
    def f1(self) -> float:
        return f1(self.precision, self.recall)

    @property
    def kind_accuracy(self) -> float:
        return _ratio(self.kind_right, self.hits)


def _one_to_one(scored: Iterable[tuple[float, int, int]]) -> dict[int, int]:
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for _, p, t in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if p not in matched and t not in taken:
            matched[p] = t
            taken.add(t)
    return matched


def _message_ratios(
    predicted: Sequence[Group], labelled: Sequence[Group], matched: dict[int, int]
) -> tuple[float, float]:
    right = sum(len(predicted[p].messages & labelled[t].messages) for p, t in matched.items())
    cited = sum(len(g.messages) for g in predicted)
    wanted = sum(len(g.messages) for g in labelled)
    return _ratio(right, cited), _ratio(right, wanted)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return _ratio(len(a & b), len(a | b))


def score_topics(predicted: Sequence[Group], labelled: Sequence[Group]) -> GroupScore:
    matched = _one_to_one(
        (j, p, t)
        for p, topic in enumerate(predicted)
        for t, label in enumerate(labelled)
        if (j := jaccard(topic.messages, label.messages)) >= TOPIC_THRESHOLD
    )
    precision, recall = _message_ratios(predicted, labelled, matched)
    return GroupScore(len(predicted), len(labelled), len(matched), precision, recall)


def score_atoms(predicted: Sequence[Group], labelled: Sequence[Group]) -> GroupScore:
    matched = _one_to_one(
        (len(atom.messages & label.messages) + (0.5 if atom.kind == label.kind else 0), p, t)
        for p, atom in enumerate(predicted)
        for t, label in enumerate(labelled)
        if atom.messages & label.messages
    )
    precision, recall = _message_ratios(predicted, labelled, matched)
    kind_right = sum(predicted[p].kind == labelled[t].kind for p, t in matched.items())
    return GroupScore(len(predicted), len(labelled), len(matched), precision, recall, kind_right)

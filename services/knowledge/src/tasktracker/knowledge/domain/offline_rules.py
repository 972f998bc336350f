"""`offline-rules`: a deterministic, rule-based extractor, so that extraction runs with no
network and no model. It is not an LLM and never says it is one.

Topics: messages are grouped by the content words they share. The phrase of two or three
adjacent content words shared by the most remaining messages (else the single word) seeds a
topic and names it; the topic takes every remaining message with it, the replies to them, and
the messages right after one of them that share a content word with it or have none of their
own ("Will do."). A group whose seed words hold another's, or whose messages mostly reply
to or follow another's, is merged into that one: one subject seeded twice is one topic.

Atoms: one per message at most, by the first rule that matches, in this order — decision
(\"decision:\", \"decided\", \"agreed\", \"we'll\", \"let's\"), problem (bug, error, fails, broken,
times out, an HTTP 5xx), solution (fixed, workaround, resolved, \"use X instead\"), question (a
\"?\"), requirement (must, need to, should, please), insight (\"I think\", \"turns out\", \"looks
like\"), fact (a date, a time or a number). Greetings and acknowledgements yield nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from tasktracker.contracts.enums import AtomKind
from tasktracker.knowledge.domain.extraction import AtomDraft, ChatLine, Extraction, TopicDraft

MODEL_NAME = "offline-rules"
FOLLOW_UP_WINDOW = timedelta(minutes=10)
MAX_TOPICS = 12

_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can cannot could did do does doing done down during each few
for from further had has have having he her here hers him his how i if in into is it its
itself just let lets me more most my no nor not now of off on once only or other our ours
out over own same she should so some such than that the their them then there these they
this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yes ok okay sure thanks thank please hi hello
morning all everyone someone anyone something quick heads new still will'll i'll we'll it's
i'm don't doesn't can't won't let's that's there's need needs needed must think know want
like get got make made take one two today tomorrow tonight yesterday monday tuesday
wednesday thursday friday saturday sunday week weeks next last sprint day days time agreed
decision reminder found fix fixed bug error issue write file review add move ship use
reproduce steps good great nice cool happy birthday lunch coffee bye home going weekend
utc thank
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-zA-Z][a-zA-Z0-9_\-']*[a-zA-Z0-9]|[a-zA-Z]")
_MENTION = re.compile(r"@\w+")

_DECISION = re.compile(
    r"^\s*(decision|decided)\b|\b(we decided|we've decided|decided to|agreed|we'll|we will|"
    r"let's|lets go with|going with|we ship|we go with|cancel(l?ed)?|called off|"
    r"scratch (that|the|this)|not this (quarter|sprint|release)|no action needed|"
    r"moves? to next (sprint|week|month|release))\b",
    re.I,
)
_PROBLEM = re.compile(
    r"^\s*bug\b|\b(bugs?|errors?|exceptions?|fails?|failed|failing|failure|broken|breaks|"
    r"crash(es|ed)?|times? out|timed out|timeouts?|regressions?|doesn't work|does not work|"
    r"not working|5\d\d)\b",
    re.I,
)
_SOLUTION = re.compile(
    r"\b(fixed|fixes it|the fix is|workaround|resolved|solved|use \w+ instead|switch(ed)? to)\b",
    re.I,
)
_REQUIREMENT = re.compile(
    r"\b(must|need to|needs to|have to|has to|should|required|requirement)\b", re.I
)
_INSIGHT = re.compile(r"\b(i think|turns out|looks like|it seems|we learned|noticed)\b", re.I)
_FACT = re.compile(
    r"\b(\d{1,2}:\d{2}|\d{4}-\d{2}-\d{2}|\d+(\.\d+)?\s?(%|ms|s|gb|mb|utc)?|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday|tonight|tomorrow)\b",
    re.I,
)
_LEADING_LABEL = re.compile(
    r"^\s*(decision|bug|heads up|reminder|fyi|note|question|found it)\s*:\s*", re.I
)

# (kind, pattern, confidence): an explicit label ("Decision:", "Bug:") is surer than a word.
_RULES: tuple[tuple[AtomKind, re.Pattern[str], float], ...] = (
    (AtomKind.decision, _DECISION, 0.7),
    (AtomKind.problem, _PROBLEM, 0.65),
    (AtomKind.solution, _SOLUTION, 0.6),
    (AtomKind.question, re.compile(r"\?"), 0.6),
    (AtomKind.requirement, _REQUIREMENT, 0.55),
    (AtomKind.insight, _INSIGHT, 0.45),
    (AtomKind.fact, _FACT, 0.4),
)
_LABELLED = {"decision": AtomKind.decision, "bug": AtomKind.problem}


@dataclass
class _Line:
    line: ChatLine
    words: list[str]  # content words in order, normalised


def extract(lines: Sequence[ChatLine]) -> Extraction:
    """Topics and atoms for one chunk of messages, in time order."""
    parsed = [_Line(line, content_words(line.text)) for line in lines]
    topics, topic_of = _group(parsed)
    atoms = []
    for position, item in enumerate(parsed):
        atom = classify(item.line)
        if atom is None or (atom.kind is AtomKind.question and _answered(parsed, position)):
            continue
        atoms.append(atom.model_copy(update={"topic_name": topic_of.get(item.line.id)}))
    return Extraction(topics=topics, atoms=atoms)


def _answered(parsed: list[_Line], position: int) -> bool:
    """A question someone answers in the chunk — a reply to it, or the next message by
    someone else within the follow-up window: the answer is the knowledge, not the question."""
    asked = parsed[position].line
    if any(item.line.reply_to == asked.id for item in parsed[position + 1 :]):
        return True
    following = parsed[position + 1].line if position + 1 < len(parsed) else None
    return (
        following is not None
        and following.author != asked.author
        and following.sent_at - asked.sent_at <= FOLLOW_UP_WINDOW
    )


def content_words(text: str) -> list[str]:
    words = []
    for raw in _WORD.findall(_MENTION.sub(" ", text)):
        word = raw.lower().strip("'")
        if len(word) < 3 or word in _STOPWORDS or word.endswith("'ll"):
            continue
        words.append(_singular(word))
    return words


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _group(parsed: list[_Line]) -> tuple[list[TopicDraft], dict[int, str]]:
    remaining = {item.line.id: item for item in parsed}
    topics: list[TopicDraft] = []
    topic_of: dict[int, str] = {}
    chunk_counts = _phrase_counts(parsed)
    groups: list[tuple[tuple[str, ...], set[int]]] = []
    while remaining and len(groups) < MAX_TOPICS:
        seed = _seed(list(remaining.values()), chunk_counts)
        if seed is None:
            break
        member_ids = {
            item.line.id for item in parsed if item.line.id in remaining and _contains(item, seed)
        }
        _add_neighbours(parsed, remaining, member_ids)
        for message_id in member_ids:
            remaining.pop(message_id, None)
        groups.append((seed, member_ids))
    for seed, member_ids in _merged(parsed, groups):
        group = [item for item in parsed if item.line.id in member_ids]
        text = " ".join(seed)
        name = text[:1].upper() + text[1:]
        for item in group:
            topic_of[item.line.id] = name
        counts = Counter(word for item in group for word in dict.fromkeys(item.words))
        keywords = [word for word, n in counts.most_common(6) if n >= 2] or list(seed)
        authors = sorted({item.line.author for item in group})
        topics.append(
            TopicDraft(
                name=name,
                description=(
                    f"{len(group)} messages by {', '.join(authors)} sharing the words "
                    f"{', '.join(keywords)}"
                ),
                keywords=keywords,
                message_ids=[item.line.id for item in group],
            )
        )
    return topics, topic_of


def _merged(
    parsed: list[_Line], groups: list[tuple[tuple[str, ...], set[int]]]
) -> list[tuple[tuple[str, ...], set[int]]]:
    """One subject found twice is one topic: a later group joins an earlier one when one's seed
    words hold the other's ("Staging migration" and "Migration"), or when most of its
    messages are replies to the earlier group's or follow one of them within the follow-up
    window (one conversation seeded by two phrases)."""
    merged: list[tuple[tuple[str, ...], set[int]]] = []
    for seed, ids in groups:
        into = next(
            (
                index
                for index, (their_seed, their_ids) in enumerate(merged)
                if set(seed) <= set(their_seed)
                or set(their_seed) <= set(seed)
                or _linked(parsed, ids, their_ids)
            ),
            None,
        )
        if into is None:
            merged.append((seed, set(ids)))
        else:
            merged[into][1].update(ids)
    return merged


def _linked(parsed: list[_Line], ids: set[int], their_ids: set[int]) -> bool:
    """Most of `ids` reply to a message of `their_ids` or come right after one (within the
    follow-up window)."""
    linked = 0
    previous: _Line | None = None
    for item in parsed:
        line = item.line
        if line.id in ids and (
            line.reply_to in their_ids
            or (
                previous is not None
                and previous.line.id in their_ids
                and line.sent_at - previous.line.sent_at <= FOLLOW_UP_WINDOW
            )
        ):
            linked += 1
        previous = item
    return linked * 2 > len(ids)


def _seed(items: list[_Line], chunk_counts: Counter[tuple[str, ...]]) -> tuple[str, ...] | None:
    """What at least two remaining messages share: a phrase of two or three words before a
    single word (a lone word like "order" is too loose to seed a topic when a phrase exists);
    then the most remaining messages, the most messages of the whole chunk, the longer
    phrase, the earliest."""
    counts = _phrase_counts(items)
    first_seen: dict[tuple[str, ...], int] = {}
    for position, item in enumerate(items):
        for phrase in _phrases(item):
            first_seen.setdefault(phrase, position)
    candidates = [
        (len(p) > 1, n, chunk_counts[p], len(p), -first_seen[p], p)
        for p, n in counts.items()
        if n >= 2
    ]
    return max(candidates)[-1] if candidates else None


def _phrase_counts(items: list[_Line]) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for item in items:
        counts.update(set(_phrases(item)))
    return counts


def _phrases(item: _Line) -> list[tuple[str, ...]]:
    found = [(word,) for word in item.words]
    words = item.words
    for size in (2, 3):
        for start in range(len(words) - size + 1):
            phrase = tuple(words[start : start + size])
            if _adjacent_in_text(item.line.text, phrase):
                found.append(phrase)
    return found


def _contains(item: _Line, seed: tuple[str, ...]) -> bool:
    return seed in _phrases(item) if len(seed) > 1 else seed[0] in item.words


def _add_neighbours(parsed: list[_Line], remaining: dict[int, _Line], member_ids: set[int]) -> None:
    """Replies to a member, and the next messages after a member (within the follow-up
    window) that share a content word with it or have none of their own (\"Will do.\")."""
    previous: _Line | None = None
    for item in parsed:
        line = item.line
        if line.id in remaining and line.id not in member_ids:
            replies_to_member = line.reply_to is not None and line.reply_to in member_ids
            follows_member = (
                previous is not None
                and previous.line.id in member_ids
                and line.sent_at - previous.line.sent_at <= FOLLOW_UP_WINDOW
                and (len(item.words) <= 2 or bool(set(item.words) & set(previous.words)))
            )
            if replies_to_member or follows_member:
                member_ids.add(line.id)
        previous = item


def _adjacent_in_text(text: str, phrase: tuple[str, ...]) -> bool:
    """The words stand next to each other in the message (no stopword between them)."""
    normalised = [_singular(w.lower().strip("'")) for w in _WORD.findall(text)]
    size = len(phrase)
    return any(tuple(normalised[i : i + size]) == phrase for i in range(len(normalised) - size + 1))


def classify(line: ChatLine) -> AtomDraft | None:
    """The atom one message states, by the first matching rule, or None."""
    text = line.text.strip()
    if len(text.split()) < 4 or not content_words(text):
        return None  # greetings, acknowledgements, one-word replies
    label = _LEADING_LABEL.match(text)
    kind: AtomKind | None = None
    confidence = 0.0
    if label and label.group(1).lower() in _LABELLED:
        kind, confidence = _LABELLED[label.group(1).lower()], 0.8
    else:
        for rule_kind, pattern, rule_confidence in _RULES:
            if pattern.search(text):
                kind, confidence = rule_kind, rule_confidence
                break
    if kind is None:
        return None
    return AtomDraft(
        kind=kind,
        title=_title(text),
        content=f"{line.author}: {text}",
        message_ids=[line.id],
        confidence=confidence,
    )


def _title(text: str) -> str:
    """The message's first sentence of four words or more, labels and mentions removed."""
    body = _MENTION.sub("", _LEADING_LABEL.sub("", text)).strip(" ,.;:")
    sentences = [p.strip(" ,.;:") for p in re.split(r"(?<=[.!?])\s+", body) if p.strip(" ,.;:")]
    first = next((p for p in sentences if len(p.split()) >= 4), body)
    first = _LEADING_LABEL.sub("", first).strip(" ,.;:") or first
    if len(first) > 100:
        first = first[:97].rsplit(" ", 1)[0] + "…"
    return first[:1].upper() + first[1:]

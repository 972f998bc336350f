"""`offline-task-rules`: a deterministic, rule-based task extractor, so that an analysis run
works with no network and no model. It is not an LLM and never says it is one.

One proposal per message at most, when the message asks for work: it starts with an
imperative ("Fix …", "Add …"), makes a request ("can you", "could you", "please", "need to",
"we should"), promises work ("I'll …", "I will …") or carries a TODO. Then:

* assignee — an @mention of a chat member; else the author when they promise the work;
* due date — an ISO date, "today", "tomorrow", or a weekday ("by Thursday": the next one);
* category — bug words (bug, error, crash, broken, fails, 5xx, times out…) → bug; improve,
  refactor, speed up… → improvement; deploy, upgrade, bump, migrate, CI… → chore;
  investigate, find out, look into… → question; else feature;
* priority — urgent words (asap, urgent, critical, blocker, outage) → critical; today,
  tonight, important, soon → high; "low priority", "nice to have", "when you have time" →
  low; else medium, high for a bug;
* tags — the category and any approved topic whose name the message mentions;
* confidence — 0.5, more for an explicit request or TODO, an assignee and a date.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from tasktracker.analysis.domain.proposals import (
    ChatLine,
    Context,
    TaskDraft,
    TaskProposals,
    member,
)
from tasktracker.contracts.enums import Category, Priority

MODEL_NAME = "offline-task-rules"

_IMPERATIVES = (
    "add|build|bump|change|check|clean|create|deploy|document|draft|enable|disable|ensure|"
    "finish|fix|implement|improve|investigate|look|make|merge|migrate|move|prepare|refactor|"
    "release|remove|rename|replace|review|rotate|run|schedule|send|set|ship|test|update|"
    "upgrade|write"
)
# after any @mentions and a label ("Urgent:", "Bug:")
_IMPERATIVE = re.compile(
    rf"^\s*(?:@\w+[,:]?\s+)*(?:\w+:\s*)?(?:please\s+)?({_IMPERATIVES})\b", re.I
)
_REQUEST = re.compile(
    r"\b(can you|could you|would you|can someone|could someone|please|need to|needs to|"
    r"we should|you should|have to|has to|must)\b",
    re.I,
)
_PROMISE = re.compile(r"\b(i'll|i will|i'm going to|i am going to|let me)\b", re.I)
_TODO = re.compile(r"\btodo\b", re.I)
_MENTION = re.compile(r"@(\w+)")

_BUG = re.compile(
    r"\b(bugs?|errors?|exceptions?|crash(es|ed)?|broken|breaks|fails?|failed|failing|"
    r"regressions?|times? out|timed out|timeouts?|5\d\d|doesn't work|not working)\b",
    re.I,
)
_IMPROVEMENT = re.compile(
    r"\b(improve|optimi[sz]e|refactor|speed up|faster|slow|clean up|simplify|polish)\b", re.I
)
_CHORE = re.compile(
    r"\b(deploy|upgrade|bump|migrat\w*|rotate|backup|ci|pipeline|dependenc\w+|release)\b", re.I
)
_QUESTION = re.compile(
    r"\b(investigate|find out|figure out|look into|research|check whether)\b", re.I
)

_CRITICAL = re.compile(
    r"\b(asap|urgent|urgently|critical|blocker|blocking|outage|prod is down)\b", re.I
)
_HIGH = re.compile(r"\b(today|tonight|important|high priority|soon|eod)\b", re.I)
_LOW = re.compile(
    r"\b(low priority|nice to have|when you have time|someday|eventually|no rush)\b", re.I
)

_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(rf"\b({'|'.join(_WEEKDAYS)})\b", re.I)
_RELATIVE_DAY = re.compile(r"\b(today|tonight|tomorrow)\b", re.I)

_LEADING = re.compile(
    r"^\s*(?:(?:@\w+[,:]?\s+)+|todo\s*:?\s*|(?:hey|hi|ok|so)[,!]?\s+|"
    r"(?:can|could|would) (?:you|someone)\s+|please\s+)+",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
TITLE_LIMIT = 120


def extract(context: Context, lines: list[ChatLine]) -> TaskProposals:
    return TaskProposals(tasks=[d for line in lines if (d := _task(context, line)) is not None])


def _task(context: Context, line: ChatLine) -> TaskDraft | None:
    text = line.text.strip()
    trigger = _trigger(text)
    if trigger is None:
        return None
    category = _category(text)
    assignee = _assignee(context, line, text)
    due = _due_date(text, line.sent_at.date())
    confidence = 0.5 + (0.2 if trigger in ("request", "todo") else 0.1)
    confidence += (0.1 if assignee else 0) + (0.1 if due else 0)
    tags = [str(category), *(t for t in context.topics if t.casefold() in text.casefold())]
    return TaskDraft(
        title=_title(text),
        description=f"{line.author}: {text}",
        priority=_priority(text, category),
        category=category,
        tags=tags,
        assignee=assignee,
        due_date=due,
        message_ids=[line.id],
        confidence=round(min(confidence, 0.95), 2),
        reasoning=f"offline rules: {trigger} in a message of {line.author}",
    )


def _trigger(text: str) -> str | None:
    if _TODO.search(text):
        return "todo"
    if _REQUEST.search(text):
        return "request"
    if _IMPERATIVE.search(text):
        return "imperative"
    if _PROMISE.search(text):
        return "promise"
    return None


def _category(text: str) -> Category:
    for pattern, category in (
        (_BUG, Category.bug),
        (_IMPROVEMENT, Category.improvement),
        (_CHORE, Category.chore),
        (_QUESTION, Category.question),
    ):
        if pattern.search(text):
            return category
    return Category.feature


def _priority(text: str, category: Category) -> Priority:
    if _CRITICAL.search(text):
        return Priority.critical
    if _LOW.search(text):
        return Priority.low
    if _HIGH.search(text) or category is Category.bug:
        return Priority.high
    return Priority.medium


def _assignee(context: Context, line: ChatLine, text: str) -> str | None:
    for name in _MENTION.findall(text):
        if (found := member(name, context.members)) is not None:
            return found
    if _PROMISE.search(text):
        return member(line.username, context.members)
    return None


def _due_date(text: str, sent: date) -> date | None:
    if found := _ISO_DATE.search(text):
        try:
            return date.fromisoformat(found.group(1))
        except ValueError:
            return None
    if found := _RELATIVE_DAY.search(text):
        return sent + timedelta(days=1 if found.group(1).lower() == "tomorrow" else 0)
    if found := _WEEKDAY.search(text):
        ahead = (_WEEKDAYS.index(found.group(1).lower()) - sent.weekday()) % 7
        return sent + timedelta(days=ahead or 7)
    return None


def _title(text: str) -> str:
    first = _SENTENCE_END.split(_LEADING.sub("", text), maxsplit=1)[0].strip() or text
    first = first.rstrip("?!. ")
    title = first[:1].upper() + first[1:]
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1].rstrip() + "…"
    return title or text[:TITLE_LIMIT]

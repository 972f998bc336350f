"""`offline-task-rules`: a deterministic, rule-based task extractor, so that an analysis run
works with no network and no model. It is not an LLM and never says it is one.

First each message is read on its own (`statement`): does a sentence of it ask for work or
promise it, with a work verb? — a request ("can you", "could someone", "please", "we need
to", "let's"), a promise ("I'll", "I will", "I can"), an imperative at the start ("Fix …",
"Kofi, renew …") or a TODO. "Yes please", "please welcome Gus" or "I'll watch the game" name
no work and are no task; "please don't …" forbids, it asks for nothing. Then the batch is read
as a conversation (`offline_threads.combine`): an acceptance joins the request it answers, the
same task said twice is one task, a task called off or done within minutes is dropped.

* title — the sentence that asks, without greetings, the addressee and "I'll";
* assignee — who is addressed (an @mention, or "Name," by a chat member's name or username),
  else the author of a promise or of "I need to", else who accepts the request;
* due date — an ISO date, "today", "tonight", "tomorrow", a weekday (the next one; "next
  Friday": the one of next week); the latest statement's date wins;
* category — bug words → bug; improve, refactor, speed up… → improvement; deploy, upgrade,
  bump, migrate, CI… → chore; investigate, find out, look into… → question; else feature;
* priority — urgent words (asap, urgent, critical, blocker, outage) → critical; today,
  tonight, important, soon → high; "low priority", "nice to have", "no rush" → low; else
  medium, high for a bug;
* confidence — 0.5, more for an explicit request or TODO, an assignee and a date.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from tasktracker.analysis.domain.offline_threads import Statement, Thread, combine
from tasktracker.analysis.domain.proposals import (
    ChatLine,
    Context,
    TaskDraft,
    TaskProposals,
    Withdrawal,
    member,
)
from tasktracker.contracts.enums import Category, Priority

MODEL_NAME = "offline-task-rules"

# Verbs that name work; "welcome", "watch", "think", "wait", "keep" do not.
WORK_VERBS = (
    "add|archive|build|bump|change|check|clean|configure|create|delete|deploy|document|draft|"
    "drop|enable|disable|ensure|estimate|file|finish|fix|implement|improve|install|"
    "investigate|look|make|mark|merge|migrate|move|open|pause|plan|prepare|prototype|publish|"
    "refactor|release|remove|rename|renew|replace|reproduce|restore|review|rotate|run|"
    "schedule|send|set|share|ship|split|take|tell|test|trigger|turn|update|upgrade|verify|"
    "write|find out|figure out|look into|set up"
)
_WORK = re.compile(rf"\b({WORK_VERBS})\b", re.I)
PRONOUN_OBJECT = re.compile(rf"\b({WORK_VERBS})\s+(it|that|this|one|them)\b", re.I)
# the verb right after "can you" / "I'll", up to two words later ("please also add", "I'll
# quickly fix"): "please think about this release" asks for no release
_WORK_NEXT = re.compile(rf"\s+(?:[\w']+\s+){{0,2}}?({WORK_VERBS})\b", re.I)
_NAME = r"@?[A-Za-z][\w.]*"
# "@boris can you", "Kofi, renew", "Urgent: rotate", "Please fix"
# "@boris can you", "Kofi, renew", "Urgent: rotate", "Please fix": the verb, then its object
# ("Fix the …", "Turn off …"); "Release checklist:" or "Deploy done" is no imperative.
_LEAD = re.compile(
    rf"^\s*(?:(?:@\w+,?|[A-Z][a-z]+,)\s+)*(?:\w+:\s*)?(?:please\s+)?({WORK_VERBS})\s+"
    r"(?:the|a|an|this|that|these|those|it|them|our|your|my|all|some|up|out|off|on|down|"
    r"back|why|what|how|whether|if)\b",
    re.I,
)
_REQUEST = re.compile(
    r"\b(can you|could you|would you|can someone|could someone|can somebody|please|"
    r"need to|needs to|we should|you should|have to|has to|must|let's|lets)\b",
    re.I,
)
_PROMISE = re.compile(r"\b(i'll|i will|i'm going to|i am going to|let me)\b", re.I)
_SELF_NEED = re.compile(r"\bi (need|have) to\b", re.I)
_FORBIDS = re.compile(
    r"^\s*(please\s+)?(don't|do not|never|not before)\b|\bplease (don't|do not|never)\b|"
    r"\b(don't|do not|doesn't|no) need to\b",
    re.I,
)
_TODO = re.compile(r"\btodo\b", re.I)
_MENTION = re.compile(r"@(\w+)")
_ADDRESS = re.compile(rf"(?:^|[.!?]\s+)({_NAME}),\s", re.M)

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
    r"\b(asap|urgent|urgently|critical|blocker|blocking|blocks|outage|prod is down)\b", re.I
)
_HIGH = re.compile(r"\b(today|tonight|important|high priority|soon|eod)\b", re.I)
_LOW = re.compile(
    r"\b(low priority|nice to have|when you have time|someday|some day|eventually|no rush)\b",
    re.I,
)

_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(rf"\b(next\s+)?({'|'.join(_WEEKDAYS)})\b", re.I)
_RELATIVE_DAY = re.compile(r"\b(today|tonight|tomorrow|this afternoon|this morning)\b", re.I)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_LEADING = re.compile(
    r"^\s*(?:(?:@\w+[,:]?\s+)+|todo\s*:?\s*|[\w ]{1,20}:\s+|"
    r"(?:hey|hi|ok|okay|so|also|and|then|sure|yes|thanks|good point|fair|agreed|hmm)[,!.]?\s+|"
    r"[A-Z][a-z]+,\s+|(?:can|could|would) (?:you|someone|somebody)\s+|please\s+|"
    r"(?:i'll|i will|i can|we need to|i need to|we should|let's)\s+)+",
    re.I,
)
TITLE_LIMIT = 120


def extract(context: Context, lines: list[ChatLine]) -> TaskProposals:
    statements = {line.id: statement(context, lines, line) for line in lines}
    dates = {line.id: due_date(line.text, line.sent_at.date()) for line in lines}
    reading = combine(context, lines, statements, dates)
    return TaskProposals(
        tasks=[_draft(context, thread) for thread in reading.threads],
        withdrawn=[Withdrawal(ref=ref, message_ids=ids) for ref, ids in reading.withdrawn.items()],
    )


def _draft(context: Context, thread: Thread) -> TaskDraft:
    first = thread.first
    text = first.line.text.strip()
    found = category(text)
    confidence = 0.5 + (0.2 if first.trigger in ("request", "todo") else 0.1)
    confidence += (0.1 if thread.assignee else 0) + (0.1 if thread.due else 0)
    confidence += 0.05 if len(thread.ids) > 1 else 0  # asked and accepted, or said twice
    tags = [str(found), *(t for t in context.topics if t.casefold() in text.casefold())]
    return TaskDraft(
        title=title(thread.named.sentence),
        description=f"{first.line.author}: {text}",
        priority=priority(text, found),
        category=found,
        tags=tags,
        assignee=thread.assignee,
        due_date=thread.due,
        message_ids=thread.ids,
        confidence=round(min(confidence, 0.95), 2),
        same_as=thread.same_as,
        reasoning=(
            f"offline rules: {first.trigger} in a message of {first.line.author}"
            + (
                f", {len(thread.ids) - 1} more message(s) of the same task"
                if thread.ids[1:]
                else ""
            )
        ),
    )


def statement(context: Context, lines: list[ChatLine], line: ChatLine) -> Statement | None:
    """The message's sentence that asks for work, the first that names its object ("Lena,
    write a migration plan" over "Let's plan it"), or None."""
    sentences = _SENTENCE.split(line.text.strip())
    found: list[Statement] = []
    for position, sentence in enumerate(sentences):
        trigger = _trigger(sentence)
        if trigger is None:
            continue
        addressee = addressed(context, lines, sentence)
        assignee = addressee
        if assignee is None and (trigger == "promise" or _SELF_NEED.search(sentence)):
            assignee = member(line.username, context.members)
        said, vague = sentence, PRONOUN_OBJECT.search(sentence) is not None
        if vague and position and len(sentences[position - 1].split()) > 3:
            # "We need a postmortem for the outage. Tomas, can you write it up?"
            said, vague = f"{sentences[position - 1]} {sentence}", False
        due = due_date(sentence, line.sent_at.date()) or due_date(line.text, line.sent_at.date())
        found.append(Statement(line, trigger, said, addressee, assignee, due, vague))
    return next((s for s in found if not s.vague), found[0] if found else None)


def _trigger(sentence: str) -> str | None:
    if _TODO.search(sentence):
        return "todo"
    if _FORBIDS.search(sentence) or not _WORK.search(sentence):
        return None
    if _LEAD.search(sentence):
        return "imperative"
    if (found := _PROMISE.search(sentence)) and _WORK_NEXT.match(sentence, found.end()):
        return "promise"
    if (found := _REQUEST.search(sentence)) and _WORK_NEXT.match(sentence, found.end()):
        return "request"
    return None


def addressed(context: Context, lines: list[ChatLine], sentence: str) -> str | None:
    """The member a sentence is said to: an @mention, or a name before a comma at its start
    ("Kofi, renew …"), matched to a username, to its first part ("kofi" of "kofi_sre") or to
    the first name of an author in the batch."""
    names = [*_MENTION.findall(sentence), *_ADDRESS.findall(sentence)]
    for name in names:
        if (found := resolve(context, lines, name.removeprefix("@"))) is not None:
            return found
    return None


def resolve(context: Context, lines: list[ChatLine], name: str) -> str | None:
    if (found := member(name, context.members)) is not None:
        return found
    wanted = name.casefold()
    by_prefix = [m for m in context.members if re.split(r"[_.\-\d]", m.casefold())[0] == wanted]
    if len(by_prefix) == 1:
        return by_prefix[0]
    for line in lines:
        if line.author.split(" ")[0].casefold() == wanted:
            return member(line.username, context.members)
    return None


def due_date(text: str, sent: date) -> date | None:
    if found := _ISO_DATE.search(text):
        try:
            return date.fromisoformat(found.group(1))
        except ValueError:
            return None
    if found := _RELATIVE_DAY.search(text):
        return sent + timedelta(days=1 if found.group(1).lower() == "tomorrow" else 0)
    if found := _WEEKDAY.search(text):
        weekday = _WEEKDAYS.index(found.group(2).lower())
        if found.group(1):  # "next Friday": that day of next week
            return sent + timedelta(days=7 - sent.weekday() + weekday)
        ahead = (weekday - sent.weekday()) % 7
        return sent + timedelta(days=ahead or 7)
    return None


def category(text: str) -> Category:
    for pattern, found in (
        (_BUG, Category.bug),
        (_IMPROVEMENT, Category.improvement),
        (_CHORE, Category.chore),
        (_QUESTION, Category.question),
    ):
        if pattern.search(text):
            return found
    return Category.feature


def priority(text: str, found: Category) -> Priority:
    if _CRITICAL.search(text):
        return Priority.critical
    if _LOW.search(text):
        return Priority.low
    if _HIGH.search(text) or found is Category.bug:
        return Priority.high
    return Priority.medium


def title(sentence: str) -> str:
    first = _LEADING.sub("", sentence).strip().rstrip("?!. ") or sentence.strip()
    text = first[:1].upper() + first[1:]
    if len(text) > TITLE_LIMIT:
        text = text[: TITLE_LIMIT - 1].rstrip() + "…"
    return text

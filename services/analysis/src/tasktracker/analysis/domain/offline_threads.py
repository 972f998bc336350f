"""The offline task rules' second pass: a batch read as a conversation, so that one task gives
one proposal and a task nobody still has to do gives none.

In time order:
* a message that calls work off ("scratch that", "never mind", "cancelled", "let's not",
  "not this quarter", "no action needed", "parking it") drops the latest open task of the
  last half hour that shares a word with it, else the latest one of the last minutes;
* a report that work is done ("done", "fixed", "rotated", "opened" … and no "will") drops the
  open tasks of the last minutes whose asking sentence shares a word with it: done at once,
  nothing left to track;
* an acceptance ("Will do.", "On it", "Sure, I'll …", "Can do", "I can …") by someone other
  than the asker joins the latest open request of the last minutes said to them or to no one:
  they become its assignee (two different people accepting: a team task, no assignee);
* a statement whose words are mostly those of an open task (and whose numbers and ids are
  the same) is that task said again;
* any other statement opens a task.

Across batches (the context's `earlier` proposals of the run): a task naming most of the words
of an earlier proposal's title is that proposal said again (`same_as`); a message that calls
work off and matches no task of its batch withdraws the earlier proposal whose title it names
that way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tasktracker.analysis.domain.proposals import ChatLine, Context, member

REPLY_WINDOW = timedelta(minutes=10)
CANCEL_WINDOW = timedelta(minutes=30)
SAME_TASK = 0.5  # shared words over the shorter statement's
EARLIER_SAME = 0.6  # shared words over an earlier proposal's title
CALLED_OFF_WORDS = 3  # words a call-off shares with an earlier proposal it names

_CANCEL = re.compile(
    r"\b(scratch (that|this|the)|never ?mind|forget (it|that|about)|cancel(l?ed)?|"
    r"call(ed)? (it )?off|let's (not|drop|skip)|drop (it|that|this)|not this "
    r"(quarter|sprint|week|month|release)|no action needed|no need|parking it|park it|"
    r"won't do|no longer needed|not needed)\b",
    re.I,
)
_DONE = re.compile(
    r"\b(done|finished|fixed|opened|created|rotated|renewed|revoked|removed|merged|deployed|"
    r"cherry-picked|swapped|resolved|filed|drained|gone|live)\b",
    re.I,
)
_FUTURE = re.compile(r"\b(will|i'll|we'll|going to|tomorrow|later|tonight|next)\b", re.I)
# Taking work on, said to anyone; a bare "yes"/"sure" only answers a request made to them.
_ACCEPT = re.compile(
    r"^\s*(will \w+|on it|can do|got it|consider it done|i can|i'll|i will|"
    r"(yes|yep|sure|ok|okay|no problem)[,.!]?\s+(i'll|i will|will|on it|i can|can do)\b)",
    re.I,
)
_ANSWER = re.compile(r"^\s*(yes|yep|sure|ok|okay|fine|no problem)\b", re.I)
_WORD = re.compile(r"[a-z0-9][a-z0-9_\-']*")
_MARK = re.compile(r"\d")  # numbers and ids tell two similar tasks apart ("bug 3", "CHK-412")
_STOPWORD_TEXT = """a an the and or but to of in on at for by with it its this that we you i me
my our your is are be can could would should will please need needs must let's i'll also then
so up out as from today tomorrow tonight yes sure ok okay"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Statement:
    """What one message says about work: the sentence that asks or promises, and its facts."""

    line: ChatLine
    trigger: str  # request, promise, imperative, todo
    sentence: str
    addressee: str | None  # the member it is said to
    assignee: str | None
    due: date | None
    vague: bool = False  # its object is a pronoun ("Turn it on") with nothing before to name it


@dataclass
class Thread:
    """One task as the batch states it: its first statement, the ids of every message that
    states or accepts it, who does it and by when."""

    first: Statement
    ids: list[int]
    assignee: str | None
    due: date | None
    accepted_by: set[str] = field(default_factory=set)
    said: list[Statement] = field(default_factory=list)  # every statement of it, in order
    last_at: datetime | None = None
    open: bool = True
    same_as: int | None = None  # the ref of the earlier proposal of the run it states again

    @property
    def named(self) -> Statement:
        """The statement that names the work best: the first whose object is no pronoun
        ("Turn it on" names less than "Set up the experiment")."""
        return next((s for s in self.said if not s.vague), self.first)

    @property
    def words(self) -> set[str]:
        return content_words(self.first.sentence)


@dataclass
class Reading:
    """A batch read as a conversation: its tasks, and the earlier proposals it calls off (by
    ref, with the ids of the messages that do)."""

    threads: list[Thread]
    withdrawn: dict[int, list[int]]


def combine(
    context: Context,
    lines: list[ChatLine],
    statements: Mapping[int, Statement | None],
    dates: Mapping[int, date | None],
) -> Reading:
    """The batch's tasks; `statements` and `dates` are what each message says on its own."""
    threads: list[Thread] = []
    withdrawn: dict[int, list[int]] = {}
    for line in lines:
        said = statements.get(line.id)
        if _CANCEL.search(line.text):
            if not _cancel(threads, line) and (ref := _earlier_called_off(context, line)):
                withdrawn.setdefault(ref, []).append(line.id)
            continue
        if said is None and _DONE.search(line.text) and not _FUTURE.search(line.text):
            _done(threads, line)
            continue
        if _accepts(context, threads, line, said, dates.get(line.id)):
            continue
        if said is None:
            continue
        if (same := _same_task(threads, said)) is not None:
            same.ids.append(line.id)
            same.said.append(said)
            same.assignee = same.assignee or said.assignee
            same.due = said.due or same.due
            same.last_at = line.sent_at
            continue
        threads.append(
            Thread(
                said,
                [line.id],
                said.assignee,
                said.due,
                last_at=line.sent_at,
                said=[said],
                same_as=_earlier_same(context, said),
            )
        )
    return Reading([t for t in threads if t.open], withdrawn)


def content_words(text: str) -> set[str]:
    words = {w.strip("'") for w in _WORD.findall(text.lower())}
    return {
        w.removesuffix("s")
        for w in words
        if (len(w) > 2 or _MARK.search(w)) and w not in _STOPWORDS
    }


def _recent(threads: list[Thread], line: ChatLine, window: timedelta) -> list[Thread]:
    return [
        t
        for t in reversed(threads)
        if t.open and t.last_at is not None and line.sent_at - t.last_at <= window
    ]


def _cancel(threads: list[Thread], line: ChatLine) -> bool:
    """Close the task of the batch the message calls off; False when it names none."""
    words = content_words(line.text)
    candidates = _recent(threads, line, CANCEL_WINDOW)
    target = next((t for t in candidates if t.words & words), None)
    if target is None:
        target = next(iter(_recent(threads, line, REPLY_WINDOW)), None)
    if target is not None:
        target.open = False
    return target is not None


def _earlier_called_off(context: Context, line: ChatLine) -> int | None:
    """The earlier proposal a call-off names: the one it shares the most words with, when
    they are three or more, or most of its title's ("Scratch the secret scanner idea" names
    "Add a secret scanner to the ticket system")."""
    words = content_words(line.text)
    scored = []
    for earlier in context.earlier:
        title = content_words(earlier.title)
        shared = len(words & title)
        if shared >= CALLED_OFF_WORDS or _named(words, title):
            scored.append((shared, earlier.ref))
    return max(scored)[1] if scored else None


def _earlier_same(context: Context, said: Statement) -> int | None:
    """The earlier proposal this statement says again: most of its title's words are in it.
    Stricter than within a batch (shared words over the shorter of the two): over a whole
    run, "Fix that before the release" would otherwise restate every release task."""
    words = content_words(said.sentence)
    return next(
        (e.ref for e in reversed(context.earlier) if _named(words, content_words(e.title))),
        None,
    )


def _named(words: set[str], title: set[str]) -> float:
    """How much of an earlier title `words` name (0 when under `EARLIER_SAME` or under two
    words, or when the numbers and ids differ)."""
    marks = {w for w in words if _MARK.search(w)}
    title_marks = {w for w in title if _MARK.search(w)}
    if marks and title_marks and not marks & title_marks:
        return 0.0
    shared = len(words & title)
    share = shared / len(title) if title else 0.0
    return share if shared >= 2 and share >= EARLIER_SAME else 0.0


def _same_words(words: set[str], theirs: set[str], *, minimum: int = 1) -> bool:
    marks = {w for w in words if _MARK.search(w)}
    their_marks = {w for w in theirs if _MARK.search(w)}
    if marks and their_marks and not marks & their_marks:
        return False
    shared = len(words & theirs)
    return (
        bool(words and theirs)
        and shared >= minimum
        and (shared / min(len(words), len(theirs)) >= SAME_TASK)
    )


def _done(threads: list[Thread], line: ChatLine) -> None:
    words = content_words(line.text)
    for thread in _recent(threads, line, REPLY_WINDOW):
        if thread.words & words:
            thread.open = False


def _accepts(
    context: Context,
    threads: list[Thread],
    line: ChatLine,
    said: Statement | None,
    due: date | None,
) -> bool:
    """Joins an acceptance to the request it answers; False when it answers none."""
    strong = _ACCEPT.search(line.text) is not None
    if not strong and not _ANSWER.search(line.text):
        return False
    who = member(line.username, context.members)
    for thread in _recent(threads, line, REPLY_WINDOW):
        asked = thread.first
        if asked.trigger == "promise" or asked.line.author == line.author:
            continue
        if asked.addressee != who and (asked.addressee is not None or not strong):
            continue
        thread.ids.append(line.id)
        if said is not None:
            thread.said.append(said)
        if who is not None:
            thread.accepted_by.add(who)
        thread.assignee = asked.addressee or (
            next(iter(thread.accepted_by)) if len(thread.accepted_by) == 1 else None
        )
        thread.due = due or thread.due
        thread.last_at = line.sent_at
        return True
    return False


def _same_task(threads: list[Thread], said: Statement) -> Thread | None:
    words = content_words(said.sentence)
    return next((t for t in reversed(threads) if t.open and _same_words(words, t.words)), None)

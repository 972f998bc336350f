"""What the task extractor sees (a batch of chat lines and the project's context) and what it
must answer (the agent's typed output), and the rules every answer passes before it is stored:
ids not in the batch are dropped, an assignee must be a member of the chat.

The context holds the run's earlier proposals (those of the batches before, not withdrawn),
each with a `ref`: a batch that states one of them again answers `same_as: ref` (it is not
proposed twice), and a batch that calls one off answers it in `withdrawn` (analysis withdraws
that proposal)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel, Field

from tasktracker.contracts.enums import Category, Priority
from tasktracker.contracts.events import TaskProposalData

MAX_TAGS = 10


@dataclass(frozen=True)
class ChatLine:
    """One message as the extractor sees it; `id` is the id every service cites."""

    id: int
    author: str
    text: str
    sent_at: datetime
    username: str | None = None  # the author's Telegram username, when they have one


@dataclass(frozen=True)
class Earlier:
    """A proposal an earlier batch of the run made, as the next batches see it."""

    ref: int  # its number in this batch's context, from 1
    title: str
    message_ids: list[int]


@dataclass(frozen=True)
class Context:
    """The project's approved knowledge, the chat's members and the run's earlier proposals,
    given with every batch."""

    members: list[str] = field(default_factory=list)  # Telegram usernames, without "@"
    topics: list[str] = field(default_factory=list)
    atoms: list[str] = field(default_factory=list)
    earlier: list[Earlier] = field(default_factory=list)

    def with_earlier(self, titled: Sequence[tuple[str, Sequence[int]]]) -> Context:
        """This context with the run's earlier proposals (title, message ids), numbered."""
        earlier = [Earlier(n, title, list(ids)) for n, (title, ids) in enumerate(titled, 1)]
        return Context(self.members, self.topics, self.atoms, earlier)


class TaskDraft(BaseModel):
    """One task as the model proposes it: work still to be done, proposed once however often
    the chat states it."""

    title: str = Field(
        min_length=1, max_length=300, description="short and imperative, naming the work"
    )
    description: str = Field(default="", max_length=4000)
    priority: Priority = Priority.medium
    category: Category = Category.feature
    tags: list[str] = Field(default_factory=list, max_length=20)
    assignee: str | None = Field(
        default=None,
        description="the member asked or committing, as a Telegram username from `members`",
    )
    due_date: date | None = Field(default=None, description="only when the chat states one")
    message_ids: list[int] = Field(
        default_factory=list,
        description="every message stating, accepting or repeating this task",
    )
    confidence: float = Field(default=0.5, ge=0, le=1)
    reasoning: str = Field(default="", max_length=500)
    same_as: int | None = Field(
        default=None,
        description="the `ref` of the earlier proposal this task states again, else null",
    )


class Withdrawal(BaseModel):
    """An earlier proposal this batch calls off."""

    ref: int = Field(description="the `ref` of the earlier proposal called off")
    message_ids: list[int] = Field(description="the ids of this batch's messages calling it off")


class TaskProposals(BaseModel):
    """The agent's output for one batch: each task once; none for cancelled or done work;
    earlier proposals of the run this batch calls off."""

    tasks: list[TaskDraft] = Field(default_factory=list)
    withdrawn: list[Withdrawal] = Field(default_factory=list)


INSTRUCTIONS = f"""You read a batch of a software team's chat and propose the tasks in it, for a
project manager to approve. A task is work someone asks for or commits to that is still to be
done after the conversation: a request ("can you…", "please…", "we need to…"), an assignment
("@x, fix…", "Kofi, renew…") or a promise ("I'll…"). Not a task: greetings and chatter, jokes,
questions answered at once, work reported as already done or done within minutes of being
asked, status announcements, prohibitions ("please don't deploy today"), and work the chat
later calls off (cancelled, dropped, "not this quarter", "scratch that") — propose nothing
for those. Propose each task once: a request and its acceptance ("Will do"), or the same
task said twice, are ONE task citing all of their messages. For each task: a short imperative
title naming the work (not "Fix it"), a description, priority ({", ".join(Priority)}),
category ({", ".join(Category)}), a few tags, the assignee — the member the request is said
to, or who promises or accepts the work, as their Telegram username from the context's
`members` (match "@boris" or "Boris," to "boris_dev"), else null — the due date only if the
chat states one (ISO date; resolve "tomorrow", "Friday" from the message's sent_at), the ids
of the messages it comes from, your confidence from 0 to 1 and one line of reasoning. Cite
only ids of the messages given. Use the project's approved topics and knowledge as context:
knowledge saying a task was cancelled or done means it is no task. The context's
`earlier_proposals` are what earlier batches of this run already proposed (ref, title,
message ids): a task of this batch that one of them already is (a reminder, a restatement, an
acceptance a day later) is answered with `same_as` set to its ref, not as a new task; work of
an earlier proposal that this batch calls off goes in `withdrawn` (its ref and the ids of the
messages calling it off). Work reported done is not withdrawn: it was a task."""


def render_prompt(context: Context, lines: Sequence[ChatLine]) -> str:
    """The batch as the model reads it: the context as one JSON object, then one JSON object
    per message, in time order."""
    header = json.dumps(
        {
            "members": context.members,
            "topics": context.topics,
            "knowledge": context.atoms,
            "earlier_proposals": [
                {"ref": e.ref, "title": e.title, "message_ids": e.message_ids}
                for e in context.earlier
            ],
        },
        ensure_ascii=False,
    )
    rows = [
        json.dumps(
            {
                "id": line.id,
                "author": line.author,
                "username": line.username,
                "sent_at": line.sent_at.isoformat(),
                "text": line.text,
            },
            ensure_ascii=False,
        )
        for line in lines
    ]
    return "\n".join(["Context (JSON):", header, "Messages (JSON lines):", *rows])


def parse_prompt(prompt: str) -> tuple[Context, list[ChatLine]]:
    """The inverse of `render_prompt`, for the offline extractor."""
    rows = prompt.splitlines()
    header = json.loads(rows[1])
    context = Context(
        members=list(header["members"]),
        topics=list(header["topics"]),
        atoms=header["knowledge"],
        earlier=[
            Earlier(e["ref"], e["title"], list(e["message_ids"]))
            for e in header.get("earlier_proposals", [])
        ],
    )
    lines = []
    for row in rows[3:]:
        data = json.loads(row)
        lines.append(
            ChatLine(
                id=data["id"],
                author=data["author"],
                text=data["text"],
                sent_at=datetime.fromisoformat(data["sent_at"]),
                username=data.get("username"),
            )
        )
    return context, lines


def cited(ids: Iterable[int], allowed: set[int]) -> list[int]:
    """The ids that belong to the batch, each once, in the order given: an id the model
    invented is dropped."""
    kept: list[int] = []
    for message_id in ids:
        if message_id in allowed and message_id not in kept:
            kept.append(message_id)
    return kept


def member(name: str | None, members: Iterable[str]) -> str | None:
    """The member a model's assignee names (with or without "@", any case), else None."""
    if not name:
        return None
    wanted = name.strip().removeprefix("@").casefold()
    return next((m for m in members if m.casefold() == wanted), None)


def proposal_id(run_id: uuid.UUID, batch_index: int, position: int) -> uuid.UUID:
    """The same id for the same proposal on every try, so a repeat can never add a twin."""
    return uuid.uuid5(run_id, f"{batch_index}:{position}")


@dataclass
class Cleaned:
    """A batch's answer after the rules: its new proposals, how many cited ids were dropped,
    and the earlier proposals (by ref) it states again or calls off, with this batch's ids."""

    proposals: list[TaskProposalData] = field(default_factory=list)
    dropped: int = 0
    restated: dict[int, list[int]] = field(default_factory=dict)
    withdrawn: dict[int, list[int]] = field(default_factory=dict)


def clean(
    answer: TaskProposals,
    *,
    run_id: uuid.UUID,
    batch_index: int,
    allowed: set[int],
    members: Sequence[str],
    earlier: Sequence[Earlier] = (),
) -> Cleaned:
    """The answer under the rules. A task left citing no message of the batch is dropped with
    its invented ids; a task the same as an earlier proposal is not proposed again; a
    withdrawal must name an earlier ref and cite a message of the batch, and a ref both
    restated and withdrawn stays withdrawn."""
    refs = {e.ref for e in earlier}
    result = Cleaned()
    for withdrawal in answer.withdrawn:
        ids = cited(withdrawal.message_ids, allowed)
        result.dropped += len(set(withdrawal.message_ids) - set(ids))
        if withdrawal.ref in refs and ids:
            known = result.withdrawn.setdefault(withdrawal.ref, [])
            known += [i for i in ids if i not in known]
    proposals = result.proposals
    for draft in answer.tasks:
        ids = cited(draft.message_ids, allowed)
        result.dropped += len(set(draft.message_ids) - set(ids))
        if not ids:
            continue
        if draft.same_as in refs:
            if draft.same_as not in result.withdrawn:
                result.restated.setdefault(draft.same_as, []).extend(ids)
            continue
        tags = list(dict.fromkeys(t.strip().casefold() for t in draft.tags if t.strip()))
        proposals.append(
            TaskProposalData(
                proposal_id=proposal_id(run_id, batch_index, len(proposals)),
                batch_index=batch_index,
                title=draft.title.strip() or draft.title,
                description=draft.description,
                priority=draft.priority,
                category=draft.category,
                tags=tags[:MAX_TAGS],
                assignee=member(draft.assignee, members),
                due_date=draft.due_date,
                source_message_ids=ids,
                confidence=draft.confidence,
                reasoning=" ".join(draft.reasoning.split())[:300],
            )
        )
    return result

"""Chats bound to projects: by a code posted in the chat, or directly by a global admin;
unbinding; and releasing a newly bound chat's parked updates.

Binding and "is it bound? else park" take the same per-chat lock, so every update is either
parked before a binding or sees it. The parked updates are not released inside the binding's
transaction (a backlog could be large): the binding kicks the `release_parked` job before it
commits, and the job releases them in order, a chunk per transaction. The job takes the chat's
lock first, so it waits for the binding's commit; if the binding rolls back it finds no
binding and does nothing. Releasing is idempotent: a released update is marked in the chunk
that stores it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.contracts.events import ChatBound, ChatUnbound
from tasktracker.ingestion import bindcodes
from tasktracker.ingestion.db import bindcodes as codes
from tasktracker.ingestion.db import parked, projects
from tasktracker.ingestion.db.models import ChatBinding
from tasktracker.ingestion.domain import IncomingMessage, normalize_update
from tasktracker.ingestion.store import OUTBOX, Outcome, store_message

# Queues the release of a chat's parked updates; raises when the job could not be queued.
Release = Callable[[int], Awaitable[None]]


class ChatBoundElsewhere(Exception):
    """The chat is bound to another project."""


@dataclass(frozen=True)
class BindResult:
    binding: ChatBinding
    created: bool
    released_parked: int  # parked updates the release job ingests, in order, after the event


async def bind_chat(
    session: AsyncSession,
    *,
    project_id: int,
    chat_id: int,
    title: str | None,
    actor: str | None,
    release: Release,
) -> BindResult:
    """Bind the chat (a global admin's direct binding). Binding again is a no-op."""
    await projects.lock_chat(session, chat_id)
    return await _bind_locked(
        session, project_id=project_id, chat_id=chat_id, title=title, actor=actor, release=release
    )


async def _bind_locked(
    session: AsyncSession,
    *,
    project_id: int,
    chat_id: int,
    title: str | None,
    actor: str | None,
    release: Release,
) -> BindResult:
    binding = await projects.insert_binding(
        session, project_id=project_id, chat_id=chat_id, title=title, actor=actor
    )
    if binding is None:
        existing = await projects.get_binding(session, chat_id)
        if existing is None or existing.project_id != project_id:
            raise ChatBoundElsewhere(chat_id)
        return BindResult(existing, created=False, released_parked=0)
    waiting = await parked.count_waiting_for_chat(session, chat_id)
    await OUTBOX.stage(
        session, ChatBound(chat_id=chat_id, released_parked=waiting), project_id=project_id
    )
    if waiting:
        await release(chat_id)
    return BindResult(binding, created=True, released_parked=waiting)


async def bind_by_code(
    session: AsyncSession, item: IncomingMessage, code: str, release: Release
) -> Outcome | None:
    """Bind the message's chat to the project of the code it posts; None when the code binds
    nothing (unknown, expired, used by another chat, or the chat is bound to another
    project — answered exactly like an unknown code), and the message is ordinary content."""
    digest = bindcodes.digest(code)
    await projects.lock_chat(session, item.chat_id)
    known = await codes.find(session, digest)
    if known is None:
        return None
    if known.used_chat_id == item.chat_id:
        return Outcome.bound  # a redelivery, or the code posted again: still not content
    bound_to = await projects.bound_project(session, item.chat_id)
    if bound_to is not None and bound_to != known.project_id:
        return None
    claimed = await codes.claim(session, digest, item.chat_id)
    if claimed is None:
        return None
    if bound_to is None:
        await _bind_locked(
            session,
            project_id=claimed.project_id,
            chat_id=item.chat_id,
            title=item.chat_title,
            actor=claimed.created_by,
            release=release,
        )
    return Outcome.bound


async def release_chunk(session: AsyncSession, chat_id: int, limit: int) -> int:
    """Ingest the chat's next `limit` parked updates into its project, in order; how many.
    0 when none are left, or the chat is no longer bound (they stay parked)."""
    await projects.lock_chat(session, chat_id)
    project_id = await projects.bound_project(session, chat_id)
    if project_id is None:
        return 0
    rows = await parked.waiting_for_chat(session, chat_id, limit)
    for row in rows:
        item = normalize_update(row.payload)
        if isinstance(item, IncomingMessage):
            await store_message(session, project_id, item, json.dumps(row.payload))
    await parked.mark_released(session, [row.id for row in rows], project_id)
    return len(rows)


async def unbind_chat(session: AsyncSession, *, project_id: int, chat_id: int) -> bool:
    """Unbind the chat from the project (later updates are parked); False if it wasn't bound."""
    await projects.lock_chat(session, chat_id)
    if not await projects.delete_binding(session, project_id, chat_id):
        return False
    await OUTBOX.stage(session, ChatUnbound(chat_id=chat_id), project_id=project_id)
    return True

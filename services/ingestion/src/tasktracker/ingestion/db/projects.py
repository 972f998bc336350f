"""Projects and the Telegram chats bound to them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.ingestion.db.models import ChatBinding, Project


async def create_project(
    session: AsyncSession, *, name: str, settings: dict[str, int], created_by: str | None
) -> Project:
    project = Project(name=name, created_by=created_by, **settings)
    session.add(project)
    await session.flush()
    await session.refresh(project)
    return project


async def list_projects(session: AsyncSession) -> list[Project]:
    return list((await session.execute(select(Project).order_by(Project.id))).scalars())


async def get_project(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


async def update_project(
    session: AsyncSession, project_id: int, changes: dict[str, Any]
) -> Project | None:
    if not changes:
        return await get_project(session, project_id)
    stmt = (
        update(Project)
        .where(Project.id == project_id)
        .values(**changes, updated_at=func.now())
        .returning(Project)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().first()


async def lock_chat(session: AsyncSession, chat_id: int) -> None:
    """Serialise, per chat, "is it bound? else park" against binding it (transaction-scoped).

    The two-key form keeps clear of single-key advisory locks (the outbox relay's).
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('ingestion.chat'), hashtext(:chat))"),
        {"chat": str(chat_id)},
    )


async def bound_project(session: AsyncSession, chat_id: int) -> int | None:
    """The project a chat is routed to. FOR SHARE: an unbind waits for this transaction."""
    stmt = (
        select(ChatBinding.project_id)
        .where(ChatBinding.chat_id == chat_id)
        .with_for_update(read=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def bound_projects(session: AsyncSession, chat_ids: Collection[int]) -> dict[int, int]:
    """`bound_project` for many chats in one statement: chat id → project id, bound ones only.
    Rows are locked in chat order (FOR SHARE), like `lock_chats` takes its locks."""
    if not chat_ids:
        return {}
    stmt = (
        select(ChatBinding.chat_id, ChatBinding.project_id)
        .where(ChatBinding.chat_id.in_(sorted(chat_ids)))
        .order_by(ChatBinding.chat_id)
        .with_for_update(read=True)
    )
    return {chat_id: project_id for chat_id, project_id in (await session.execute(stmt)).all()}


async def lock_chats(session: AsyncSession, chat_ids: Collection[int]) -> None:
    """`lock_chat` for many chats, always in chat order: two batches never wait on each
    other in a circle."""
    for chat_id in sorted(chat_ids):
        await lock_chat(session, chat_id)


async def insert_binding(
    session: AsyncSession, *, project_id: int, chat_id: int, title: str | None, actor: str | None
) -> ChatBinding | None:
    """The new binding, or None when the chat is bound already (to any project)."""
    stmt = (
        insert(ChatBinding)
        .values(project_id=project_id, chat_id=chat_id, title=title, bound_by=actor)
        .on_conflict_do_nothing(index_elements=[ChatBinding.chat_id])
        .returning(ChatBinding)
    )
    return (await session.execute(stmt)).scalars().first()


async def get_binding(session: AsyncSession, chat_id: int) -> ChatBinding | None:
    return await session.get(ChatBinding, chat_id)


async def list_bindings(session: AsyncSession, project_id: int) -> list[ChatBinding]:
    stmt = (
        select(ChatBinding)
        .where(ChatBinding.project_id == project_id)
        .order_by(ChatBinding.bound_at, ChatBinding.chat_id)
    )
    return list((await session.execute(stmt)).scalars())


async def delete_binding(session: AsyncSession, project_id: int, chat_id: int) -> bool:
    stmt = (
        delete(ChatBinding)
        .where(ChatBinding.project_id == project_id, ChatBinding.chat_id == chat_id)
        .returning(ChatBinding.chat_id)
    )
    return (await session.execute(stmt)).first() is not None

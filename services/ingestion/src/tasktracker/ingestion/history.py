"""Importing a chat's history from a Telegram Desktop export.

An upload is checked whole before anything is written (JSON, an export, the chat bound to
this project), then kept in the `imports` row with a cursor; a job (or the CLI) stores it a
chunk per transaction: the chunk's users, profiles and messages (multi-row upserts), their
`message.updated` events (flagged `imported`) and the advanced cursor and counters commit
together. A job that dies resumes at the cursor; uploading the same file again resumes the
unfinished import of it, and once it is done, starts a new one that stores nothing new.

Imported messages are stored exactly as webhook ones (same tables, same authors), with no
update id: a webhook update replaces one only with a strictly newer edit, and an import only
ever applies a strictly newer edit, so an older export never overwrites a newer webhook edit.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.contracts.events import (
    ImportProgress,
    MessageAuthor,
    MessageUpdated,
)
from tasktracker.ingestion.db import imports, messages, projects
from tasktracker.ingestion.db.models import Import
from tasktracker.ingestion.domain import Author, IncomingMessage
from tasktracker.ingestion.export import (
    ExportChat,
    NotAnExport,
    Skipped,
    read_export,
    read_message,
    storable_message,
)
from tasktracker.ingestion.store import OUTBOX
from tasktracker.servicekit import db


class BadExport(ValueError):
    """The upload is not JSON (`code` bad_request) or not a chat export (not_an_export)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ChatNotBound(Exception):
    """The export's chat is not bound to the project."""

    def __init__(self, chat: ExportChat) -> None:
        super().__init__(
            f"the export is of chat {chat.chat_id} ({chat.title or chat.type}), which is not "
            "bound to this project; bind it first (POST .../sources/bind-codes)"
        )
        self.chat = chat


def parse_upload(body: bytes) -> ExportChat:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise BadExport("bad_request", f"the file is not JSON: {exc}") from None
    try:
        return read_export(document)
    except NotAnExport as exc:
        raise BadExport("not_an_export", f"not a Telegram Desktop chat export: {exc}") from None


async def accept_export(
    session: AsyncSession, project_id: int, body: bytes, actor: str | None
) -> tuple[Import, bool]:
    """The import of the uploaded file (new, or the unfinished one of the same file: True).
    Raises `BadExport` or `ChatNotBound`, having written nothing."""
    chat = parse_upload(body)
    if await projects.bound_project(session, chat.chat_id) != project_id:
        raise ChatNotBound(chat)
    return await imports.create_or_resume(
        session,
        {
            "project_id": project_id,
            "chat_id": chat.chat_id,
            "chat_title": chat.title,
            "file_sha256": hashlib.sha256(body).hexdigest(),
            "file_bytes": len(body),
            "file": body,
            "total": len(chat.messages),
            "created_by": actor,
        },
    )


Progress = Callable[[Import], Awaitable[None] | None]


async def run_import(
    sessions: async_sessionmaker[AsyncSession],
    import_id: int,
    chunk_size: int,
    on_progress: Progress | None = None,
    budget_seconds: float | None = None,
) -> Import | None:
    """Store the import from its cursor on, a chunk per transaction; the import when it
    stopped (completed or failed, or still running when `budget_seconds` ran out), None if
    there is none."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    digest, chat, repair = await _parsed_file(sessions, import_id)
    while True:
        async with db.transaction(sessions) as session:
            row = await import_chunk(session, import_id, chat, chunk_size, repair=repair)
        if row is not None and on_progress is not None:
            shown = on_progress(row)
            if shown is not None:
                await shown
        if row is None or row.status in ("completed", "failed"):
            if digest is not None:
                _PARSED.pop(digest, None)  # nothing left to continue
            return row
        if deadline is not None and time.monotonic() >= deadline:
            return row


# The file this process imported last, parsed, by its SHA-256: the import's continuation (the
# next job, most often taken by the same worker) skips reading 16 MB from `bytea` and parsing
# it again. Keyed by content, an entry can never be the wrong file.
_PARSED: dict[str, tuple[ExportChat, bool]] = {}


async def _parsed_file(
    sessions: async_sessionmaker[AsyncSession], import_id: int
) -> tuple[str | None, ExportChat | None, bool]:
    """The import's file digest, its export parsed, and whether its messages need repair
    (None, None: the import or its file is gone)."""
    async with sessions() as session:
        digest = await imports.kept_file_digest(session, import_id)
        parsed = None if digest is None else _PARSED.get(digest)
        if digest is not None and parsed is None:
            body = await imports.load_file(session, import_id)
            if body is None:  # completed since
                return None, None, False
            parsed = (parse_upload(body), needs_repair(body))
            _PARSED.clear()  # one file at most
            _PARSED[digest] = parsed
    return (None, None, False) if parsed is None else (digest, *parsed)


# JSON escapes of what PostgreSQL can't store (NUL, and surrogates, paired or not): a file
# without any needs no repair, message by message (`storable_document` walks every value).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(0000|[dD][89abcdefABCDEF])")


def needs_repair(body: bytes) -> bool:
    return _UNSTORABLE_ESCAPE.search(body) is not None


async def import_chunk(
    session: AsyncSession,
    import_id: int,
    chat: ExportChat | None,
    chunk_size: int,
    *,
    repair: bool = True,
) -> Import | None:
    """The next chunk of the import, stored with its events and the advanced cursor."""
    row = await imports.lock_import(session, import_id)
    if row is None or row.status in ("completed", "failed"):
        return row
    if chat is None:  # the file is gone although it is not done: nothing to resume from
        return await _finish(session, row, "failed", "the uploaded file is missing")
    if await projects.bound_project(session, row.chat_id) != row.project_id:
        return await _finish(session, row, "failed", "the chat is no longer bound to the project")
    start = row.cursor
    end = min(start + chunk_size, row.total)
    counts = await _store(session, row, chat, chat.messages[start:end], repair)
    changes: dict[str, Any] = {
        "status": "running",
        "cursor": end,
        **{name: getattr(row, name) + count for name, count in counts.items()},
    }
    if end >= row.total:
        changes |= {"status": "completed", "file": None, "finished_at": func.now()}
    updated = await imports.save_progress(session, import_id, changes)
    if start == 0 or end >= row.total or _tenth(start, row.total) != _tenth(end, row.total):
        await _announce(session, updated)
    return updated


async def _store(
    session: AsyncSession, row: Import, chat: ExportChat, chunk: list[Any], repair: bool
) -> dict[str, int]:
    """Store a chunk's messages; how many were stored, unchanged, skipped, errors."""
    counts = {"stored": 0, "unchanged": 0, "skipped": 0, "errors": 0}
    newest: dict[int, tuple[IncomingMessage, dict[str, Any]]] = {}
    for raw in chunk:
        document = storable_message(raw) if repair else raw
        item = read_message(document, chat)
        if isinstance(item, IncomingMessage):
            kept = newest.get(item.message_id)
            if kept is None or messages.version(item) >= messages.version(kept[0]):
                if kept is not None:
                    counts["unchanged"] += 1
                newest[item.message_id] = (item, {"export_message": document})
            else:
                counts["unchanged"] += 1
        elif isinstance(item, Skipped):
            counts["skipped"] += 1
        else:
            counts["errors"] += 1
    # What is stored already as new or newer (a repeated import) is left out before the
    # upsert, whose own condition still decides a race: this only spares PostgreSQL parsing
    # and comparing rows that cannot change.
    known = await imports.stored_edits(session, row.project_id, chat.chat_id, newest.keys())
    items = sorted(
        (
            entry
            for message_id, entry in newest.items()
            if message_id not in known or _newer(entry[0].edited_at, known[message_id])
        ),
        key=lambda entry: entry[0].message_id,
    )
    counts["unchanged"] += len(newest) - len(items)
    user_ids = await messages.upsert_authors(
        session,
        [(i.author.profile, i.edited_at or i.sent_at) for i, _ in items if i.author.profile],
    )
    authors: dict[tuple[Author, int | None], MessageAuthor] = {}  # a chat has few authors
    rows = []
    for item, _ in items:
        user_id = _user_id(user_ids, item)
        author = authors.get((item.author, user_id))
        if author is None:
            author = messages.message_author(item.author, user_id)
            authors[(item.author, user_id)] = author
        rows.append((item, user_id, author))
    ids = await imports.upsert_imported(
        session,
        [
            (row.project_id, item, user_id, author.model_dump_json(), json.dumps(raw))
            for (item, user_id, author), (_, raw) in zip(rows, items, strict=True)
        ],
    )
    events = [
        (MessageUpdated(message=messages.written_record(ids[item.message_id], row.project_id,
                                                        item, author),
                        imported=True), row.project_id)
        for item, _, author in rows
        if item.message_id in ids
    ]  # fmt: skip
    await OUTBOX.stage_many(session, events)
    counts["stored"] += len(ids)
    counts["unchanged"] += len(items) - len(ids)
    return counts


async def _finish(session: AsyncSession, row: Import, status: str, error: str) -> Import:
    updated = await imports.save_progress(
        session, row.id, {"status": status, "error": error, "finished_at": func.now()}
    )
    await _announce(session, updated)
    return updated


async def _announce(session: AsyncSession, row: Import) -> None:
    event = ImportProgress(
        import_id=row.id,
        chat_id=row.chat_id,
        status="running" if row.status == "queued" else row.status,  # type: ignore[arg-type]
        total=row.total,
        read=row.cursor,
        stored=row.stored,
        unchanged=row.unchanged,
        skipped=row.skipped,
        errors=row.errors,
    )
    await OUTBOX.stage(session, event, project_id=row.project_id)


def _newer(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and (stored is None or incoming > stored)


def _tenth(position: int, total: int) -> int:
    return position * 10 // max(total, 1)


def _user_id(user_ids: dict[int, int], item: IncomingMessage) -> int | None:
    profile = item.author.profile
    return None if profile is None else user_ids[profile.telegram_user_id]

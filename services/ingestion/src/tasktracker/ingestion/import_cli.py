"""`tasktracker-ingestion import FILE --project ID`: a chat history import from a terminal.

It does what `POST /api/projects/{pid}/imports` and the `import_history` job do — the same
checks, the same `imports` row, the same chunks with their events — but runs the chunks in
this process, with a progress line on stderr. It talks to the ingestion database directly
(`TT_INGESTION_DATABASE_URL`), as `migrate` does: an operator's command on a machine that
can reach it, not a browser's, so it needs no token and no HTTP limit on the file's size. Its
events reach NATS through the outbox: the API's or worker's relay publishes them (NOTIFY
wakes it). Stopped halfway, the same command resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tasktracker.ingestion.db.models import Import
from tasktracker.ingestion.history import BadExport, ChatNotBound, accept_export, run_import
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import db


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tasktracker-ingestion import",
        description="Import a chat's history from a Telegram Desktop export (result.json).",
    )
    parser.add_argument("file", type=Path, help="the export's result.json")
    parser.add_argument("--project", type=int, required=True, help="the project id")
    parser.add_argument("--actor", default="cli", help="recorded as the import's creator")
    args = parser.parse_args(argv)
    settings = IngestionSettings()
    body = args.file.read_bytes()
    if len(body) > settings.import_max_bytes:
        print(f"error: {args.file} is over {settings.import_max_bytes} bytes "
              "(TT_INGESTION_IMPORT_MAX_BYTES)", file=sys.stderr)  # fmt: skip
        return 2
    return asyncio.run(_run(settings, args.project, body, args.actor))


async def _run(settings: IngestionSettings, project_id: int, body: bytes, actor: str) -> int:
    engine = db.create_engine(settings.database_url)
    sessions = db.session_factory(engine)
    try:
        try:
            async with db.transaction(sessions) as session:
                row, resumed = await accept_export(session, project_id, body, actor)
        except (BadExport, ChatNotBound) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        verb = "resuming" if resumed else "starting"
        print(f"import {row.id} of chat {row.chat_id}: {verb} at {row.cursor}/{row.total}",
              file=sys.stderr)  # fmt: skip
        progress = ProgressLine()
        done = await run_import(sessions, row.id, settings.import_chunk_size, progress.show)
    finally:
        await engine.dispose()
    if done is None or done.status != "completed":
        print(f"\nimport {row.id} failed: {done.error if done else 'gone'}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(f"import {done.id}: {done.stored} stored, {done.unchanged} unchanged, "
          f"{done.skipped} skipped, {done.errors} errors of {done.total}")  # fmt: skip
    return 0


class ProgressLine:
    """`[#####.....] 25000/50000 messages  11,800/s` rewritten in place on stderr."""

    WIDTH = 30

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first: int | None = None

    def show(self, row: Import) -> None:
        if self.first is None:
            self.first = row.cursor
        filled = self.WIDTH * row.cursor // max(row.total, 1)
        rate = (row.cursor - self.first) / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\r[{bar}] {row.cursor}/{row.total} messages  {rate:,.0f}/s ")
        sys.stderr.flush()

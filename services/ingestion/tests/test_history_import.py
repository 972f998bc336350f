"""Importing a chat's history from a Telegram Desktop export: upload → `imports` row → the
`import_history` job in the real worker process → messages, authors and `message.updated`
events (flagged imported), on real PostgreSQL and JetStream."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import func, select

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import decode_event
from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.db.models import Import, Message, outbox
from tasktracker.ingestion.history import accept_export, import_chunk, parse_upload
from tests.fixtures.clients import asgi_client
from tests.fixtures.telegram_export import export_bytes, generate_export

from .conftest import console_script, settings_env
from .support import bound_project, create_project, new_chat_id, post_update, sample, wait_for

pytestmark = pytest.mark.usefixtures("worker")

ADMIN = {"X-Actor": "admin@example.com"}


def export_id_of(chat_id: int) -> int:
    """The export's id of a supergroup the Bot API calls `chat_id` (-100<id>)."""
    return -chat_id - 10**12


async def upload(client, project_id: int, body: bytes):
    return await client.post(f"/api/projects/{project_id}/imports", content=body, headers=ADMIN)


async def finished(client, project_id: int, import_id: int, within: float = 600.0) -> dict:
    """The import once done; the bound is generous: a loaded 2-core machine is slow."""

    async def check():
        body = (await client.get(f"/api/projects/{project_id}/imports/{import_id}")).json()
        return body if body["status"] in ("completed", "failed") else None

    return await wait_for(check, within)


async def message_count(engine, project_id: int) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(Message).where(Message.project_id == project_id)
        return await conn.scalar(stmt)


async def staged_events(engine, project_id: int, event_type: str) -> list[bytes]:
    async with engine.connect() as conn:
        stmt = select(outbox.c.payload).where(
            outbox.c.subject == f"space.{project_id}.messages.{event_type}"
        )
        return list((await conn.execute(stmt)).scalars())


async def message(engine, project_id: int, message_id: int) -> Message:
    async with engine.connect() as conn:
        stmt = select(Message).where(
            Message.project_id == project_id, Message.message_id == message_id
        )
        return (await conn.execute(stmt)).one()


# Two imports of 50,000 messages: well within a minute on an idle 2-core machine, minutes on
# one shared by a dozen test runs. The bound is generous; nothing asserts a duration.
@pytest.mark.timeout(900)
async def test_50000_messages_import_once_and_again_add_nothing(client, engine):
    project_id, chat_id = await bound_project(client)
    export, expected = generate_export(50_000, export_id=export_id_of(chat_id))
    body = export_bytes(export)

    response = await upload(client, project_id, body)
    assert response.status_code == 202, response.text
    first = await finished(client, project_id, response.json()["id"])
    assert first["status"] == "completed", first
    assert (first["total"], first["read"]) == (50_000, 50_000)
    assert (first["stored"], first["skipped"], first["errors"], first["unchanged"]) == (
        expected.stored, expected.skipped, 0, 0,
    )  # fmt: skip
    assert await message_count(engine, project_id) == expected.stored
    updated = await staged_events(engine, project_id, "message.updated")
    assert len(updated) == expected.stored
    record = decode_event(Envelope.from_bytes(updated[0]))
    assert record.imported is True and record.message.update_id is None

    # Entity parts flattened, replies and edits kept, authors as the webhook stores them.
    replied = await message(engine, project_id, 5)  # 5 % 20 == 5: a reply, an entity text
    assert replied.text == expected.texts[5]
    assert replied.reply_to_message_id == 4
    edited = await message(engine, project_id, 4)  # 4 % 5 == 4: edited
    assert edited.edited_at is not None and edited.update_id is None
    assert edited.author["telegram_user_id"] in {100001, 100002, 100003, 100004, 100005}

    again = await upload(client, project_id, body)
    assert again.status_code == 202 and again.json()["id"] != first["id"]
    second = await finished(client, project_id, again.json()["id"])
    assert second["status"] == "completed"
    assert (second["stored"], second["unchanged"], second["skipped"]) == (
        0, expected.stored, expected.skipped,
    )  # fmt: skip
    assert await message_count(engine, project_id) == expected.stored
    assert len(await staged_events(engine, project_id, "message.updated")) == expected.stored

    # A webhook edit after the import wins.
    edit = sample("edited", chat_id=chat_id, message_id=10, text="moved to Friday")
    edit["edited_message"]["date"] = int(edited.sent_at.timestamp())
    edit["edited_message"]["edit_date"] = 1_800_000_000
    assert (await post_update(client, edit)).status_code == 200

    async def webhook_applied():
        return (await message(engine, project_id, 10)).text == "moved to Friday"

    await wait_for(webhook_applied)
    progress = await staged_events(engine, project_id, "ingestion.import_progress")
    statuses = [decode_event(Envelope.from_bytes(p)).status for p in progress]
    assert statuses.count("completed") == 2 and len(statuses) <= 2 * 12  # a few per import


async def test_an_older_export_never_overwrites_a_newer_webhook_edit(client, engine):
    project_id, chat_id = await bound_project(client)
    export, expected = generate_export(60, export_id=export_id_of(chat_id))
    # Message 4 was edited (export: a minute after sending); the webhook saw a later edit.
    newer = sample("edited", chat_id=chat_id, message_id=4, text="webhook's later edit")
    newer["edited_message"]["edit_date"] = 1_800_000_000
    assert (await post_update(client, newer)).status_code == 200
    # Message 6, the original as the webhook saw it (no edit) before the import.
    original = sample("text", chat_id=chat_id, message_id=6, text="live original")
    assert (await post_update(client, original)).status_code == 200

    async def both_stored():
        return await message_count(engine, project_id) == 2

    await wait_for(both_stored)
    response = await upload(client, project_id, export_bytes(export))
    done = await finished(client, project_id, response.json()["id"])
    assert done["status"] == "completed"
    assert done["stored"] == expected.stored - 2 and done["unchanged"] == 2
    assert (await message(engine, project_id, 4)).text == "webhook's later edit"
    live = await message(engine, project_id, 6)
    assert (live.text, live.update_id) == ("live original", original["update_id"])

    # A webhook update repeating what the import stored (the original of message 7) changes
    # nothing and emits nothing.
    before = len(await staged_events(engine, project_id, "message.updated"))
    repeat = sample("text", chat_id=chat_id, message_id=7, text="the same message, live")
    assert (await post_update(client, repeat)).status_code == 200
    await asyncio.sleep(1.0)  # the worker's answer is "unchanged": nothing to wait for
    row = await message(engine, project_id, 7)
    assert row.update_id is None and row.text == expected.texts[7]
    assert len(await staged_events(engine, project_id, "message.updated")) == before


async def test_a_file_that_stopped_halfway_resumes_where_it_stopped(client, engine, app):
    project_id, chat_id = await bound_project(client)
    export, expected = generate_export(2_500, export_id=export_id_of(chat_id), seed=3)
    body = export_bytes(export)
    # The import is made and its first chunk stored, then the job "dies" (it is never queued).
    sessions = app.state.runtime.sessions
    async with sessions() as session, session.begin():
        row, resumed = await accept_export(session, project_id, body, "admin@example.com")
    async with sessions() as session, session.begin():
        await import_chunk(session, row.id, parse_upload(body), 1000)
    assert not resumed and await message_count(engine, project_id) > 0

    response = await upload(client, project_id, body)
    assert response.status_code == 202
    assert response.json()["id"] == row.id and response.json()["resumed"] is True
    assert response.json()["read"] == 1000
    done = await finished(client, project_id, row.id)
    assert done["status"] == "completed" and done["read"] == 2_500
    assert (done["stored"], done["unchanged"]) == (expected.stored, 0)
    assert await message_count(engine, project_id) == expected.stored
    assert len(await staged_events(engine, project_id, "message.updated")) == expected.stored


async def imports_of(engine, project_id: int) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(Import).where(Import.project_id == project_id)
        return await conn.scalar(stmt)


async def test_bad_files_are_refused_and_change_nothing(client, engine, settings):
    project_id, chat_id = await bound_project(client)
    garbage = await upload(client, project_id, b"\x89PNG not json at all")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "bad_request"
    not_export = await upload(client, project_id, b'{"about": "a JSON file, no chat"}')
    assert not_export.status_code == 422
    assert not_export.json()["error"]["code"] == "not_an_export"
    other_chat = new_chat_id()
    export, _ = generate_export(10, export_id=export_id_of(other_chat))
    wrong = await upload(client, project_id, export_bytes(export))
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "chat_not_bound"
    assert wrong.json()["error"]["details"]["chat_id"] == other_chat
    # The chat is bound, but to another project.
    elsewhere = await create_project(client)
    export, _ = generate_export(10, export_id=export_id_of(chat_id))
    assert (await upload(client, elsewhere, export_bytes(export))).status_code == 409
    missing = await upload(client, 10**15, export_bytes(export))
    assert missing.status_code == 404

    small = create_app(settings.model_copy(update={"import_max_bytes": 2048}))
    async with asgi_client(small) as limited:
        big, _ = generate_export(100, export_id=export_id_of(chat_id))
        oversize = await upload(limited, project_id, export_bytes(big))
    assert oversize.status_code == 413
    assert oversize.json()["error"]["code"] == "payload_too_large"
    assert await imports_of(engine, project_id) == 0
    assert await imports_of(engine, elsewhere) == 0
    assert await message_count(engine, project_id) == 0


async def test_the_command_line_imports_with_a_progress_line(client, engine, settings, tmp_path):
    project_id, chat_id = await bound_project(client)
    export, expected = generate_export(1_500, export_id=export_id_of(chat_id), seed=11)
    path = tmp_path / "result.json"
    path.write_bytes(export_bytes(export))

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            console_script("tasktracker-ingestion"), "import", *args,
            env={**os.environ, **settings_env(settings), "TT_INGESTION_IMPORT_CHUNK_SIZE": "500"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode(), err.decode()

    code, out, err = await run(str(path), "--project", str(project_id))
    assert code == 0, err
    assert f"{expected.stored} stored, 0 unchanged, {expected.skipped} skipped" in out
    assert "1500/1500 messages" in err and "[" + "#" * 30 + "]" in err
    assert await message_count(engine, project_id) == expected.stored

    other = await create_project(client)
    code, _, err = await run(str(path), "--project", str(other))
    assert code == 2 and "not bound to this project" in err

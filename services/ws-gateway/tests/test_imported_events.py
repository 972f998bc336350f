"""Imported `message.updated` events are withheld from sockets (pure: `is_withheld`)."""

from datetime import UTC, datetime

from tasktracker.contracts.events import (
    ImportProgress,
    MessageAuthor,
    MessageRecord,
    MessageUpdated,
    make_envelope,
)
from tasktracker.contracts.subjects import parse_subject
from tasktracker.gateway.hub import is_withheld


def envelope_bytes(payload) -> tuple[object, bytes]:
    envelope = make_envelope(payload, project_id=42, producer="ingestion")
    return parse_subject(envelope.subject), envelope.to_bytes()


def updated(text: str, imported: bool) -> MessageUpdated:
    record = MessageRecord(
        id=1, project_id=42, chat_id=-100, message_id=1, text=text, kind="text",
        author=MessageAuthor(display_name="Ann"), sent_at=datetime.now(UTC),
    )  # fmt: skip
    return MessageUpdated(message=record, imported=imported)


def test_only_imported_message_updates_are_withheld():
    assert is_withheld(*envelope_bytes(updated("hi", imported=True)))
    assert not is_withheld(*envelope_bytes(updated("hi", imported=False)))
    # A live message whose text looks like the flag is still delivered.
    assert not is_withheld(*envelope_bytes(updated('"imported":true', imported=False)))
    progress = ImportProgress(
        import_id=1, chat_id=-100, status="completed", total=1, read=1, stored=1,
        unchanged=0, skipped=0, errors=0,
    )  # fmt: skip
    assert not is_withheld(*envelope_bytes(progress))

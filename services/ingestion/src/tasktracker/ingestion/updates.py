"""The stream of Telegram's updates: what the webhook publishes and the worker consumes.

Each update is published as the webhook received it (its body's bytes, no wrapper) to a
work-queue stream of its own (`updates_stream`, subject `updates_subject`), with
`Nats-Msg-Id` = `telegram-update-<update_id>`, so JetStream's duplicate window drops
Telegram's retries of it. The publish waits for JetStream's PubAck: when it returns, the
update is stored. The trace the webhook call belongs to travels in the message's headers.

Why not a TaskIQ job per update, as DESIGN.md §2 has it for commands: an update is no
command to run but a fact to store, in arrival order, many per transaction. As one job each,
the worker's cost was taskiq's per-job machinery (receiver, middlewares, a result and an ack
per job) and nats-py's per-message handling. Measured back to back (the ingestion README):
the worker's CPU per update went from 0.54 to 0.33 to 0.36 ms on a 10,000-update backlog
(`bench.worker`), and through the whole stack (`bench.end_to_end`) from 6.4 to 2.5 ms at
100/s and 1.0 to 0.66 ms at 500/s, where the p99 POST → event went from 1.3 s to 284 ms.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import tracing
from tasktracker.servicekit.tracing import SpanKind

MSG_ID_HEADER = "Nats-Msg-Id"
TRACE_HEADERS = ("traceparent", "tracestate")


def update_msg_id(update_id: int) -> str:
    """One id per update: JetStream's duplicate window drops a Telegram retry of it."""
    return f"telegram-update-{update_id}"


def updates_stream_config(settings: IngestionSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.updates_stream,
        subjects=[settings.updates_subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=settings.stream_duplicate_window_seconds,
    )


async def publish_update(
    nats: Client, js: JetStreamContext, settings: IngestionSettings, update_id: int, body: bytes
) -> None:
    """Publish the update on `nats` (`js` its JetStream context) and wait
    `webhook_enqueue_timeout_seconds` for the PubAck.

    Raises nats-py's errors: its TimeoutError without a PubAck, NoStreamResponseError without
    the stream, MaxPayloadError for a message over the server's limit."""
    headers = {MSG_ID_HEADER: update_msg_id(update_id)}
    with tracing.span(f"publish {settings.updates_subject}", kind=SpanKind.PRODUCER):
        if carrier := tracing.current_carrier():
            headers |= carrier
        # nats-py checks the body alone against the limit; the server counts the headers too
        # and answers a message over it by closing the connection, every request on it failing.
        if len(body) + _header_bytes(headers) > nats.max_payload:
            raise MaxPayloadError
        await js.publish(
            settings.updates_subject,
            body,
            timeout=settings.webhook_enqueue_timeout_seconds,
            headers=headers,
        )


def _header_bytes(headers: dict[str, str]) -> int:
    """The size of the headers as NATS sends them: `NATS/1.0`, a line each, a blank line."""
    return len("NATS/1.0\r\n\r\n") + sum(len(f"{k}: {v}\r\n".encode()) for k, v in headers.items())

"""The service's jobs: their names, their ids and how they are kicked.

`save_telegram_message` carries the webhook's body as it came (JSON text): the worker parses it
once. Re-encoding a decoded update could fail (an unpaired surrogate can't be written as UTF-8),
and such an update must still be queued and recorded, not refused.
"""

from __future__ import annotations

import uuid
from typing import Any

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

SAVE_TELEGRAM_MESSAGE = "save_telegram_message"
RELEASE_PARKED = "release_parked"
IMPORT_HISTORY = "import_history"


def job_id(update_id: int) -> str:
    """One id per update: JetStream's duplicate window drops a Telegram retry of it."""
    return f"telegram-update-{update_id}"


async def enqueue_update(broker: AsyncBroker, update_id: int, body: str) -> None:
    """Publish the job and wait for JetStream's PubAck: when this returns, it is stored.

    Raises taskiq's SendTaskError when the broker does not accept it.
    """
    kicker: AsyncKicker[Any, Any] = AsyncKicker(SAVE_TELEGRAM_MESSAGE, broker, labels={})
    await kicker.with_task_id(job_id(update_id)).kiq(body)


async def enqueue_release(broker: AsyncBroker, chat_id: int) -> None:
    """Queue the release of a newly bound chat's parked updates (waits for the PubAck).

    A fresh id each time: a binding that rolled back and is made again must kick again, not
    be dropped as a duplicate; releasing twice is harmless.
    """
    kicker: AsyncKicker[Any, Any] = AsyncKicker(RELEASE_PARKED, broker, labels={})
    await kicker.with_task_id(f"release-parked-{chat_id}-{uuid.uuid4()}").kiq(chat_id)


async def enqueue_import(broker: AsyncBroker, import_id: int) -> None:
    """Queue an import's job (waits for the PubAck). A fresh id each time: uploading the file
    again must kick the unfinished import again; two runs of it are harmless (a chunk at a
    time under the import's row lock)."""
    kicker: AsyncKicker[Any, Any] = AsyncKicker(IMPORT_HISTORY, broker, labels={})
    await kicker.with_task_id(f"import-history-{import_id}-{uuid.uuid4()}").kiq(import_id)

"""The service's jobs: their names, their ids and how they are kicked.

Telegram's updates are no jobs (`updates.py`); `save_telegram_message` is the task that older
APIs queued them as, and the form a parked update takes on the dead-letter stream (its
argument the webhook's body as JSON text).
"""

from __future__ import annotations

import uuid
from typing import Any

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

SAVE_TELEGRAM_MESSAGE = "save_telegram_message"
RELEASE_PARKED = "release_parked"
IMPORT_HISTORY = "import_history"


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

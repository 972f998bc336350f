"""The `save_telegram_message` job: its name, its id and how the webhook enqueues it."""

from __future__ import annotations

from typing import Any

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

SAVE_TELEGRAM_MESSAGE = "save_telegram_message"


def job_id(update_id: int) -> str:
    """One id per update: JetStream's duplicate window drops a Telegram retry of it."""
    return f"telegram-update-{update_id}"


async def enqueue_update(broker: AsyncBroker, update_id: int, payload: dict[str, Any]) -> None:
    """Publish the job and wait for JetStream's PubAck: when this returns, it is stored.

    Raises taskiq's SendTaskError when the broker does not accept it.
    """
    kicker: AsyncKicker[Any, Any] = AsyncKicker(SAVE_TELEGRAM_MESSAGE, broker, labels={})
    await kicker.with_task_id(job_id(update_id)).kiq(payload)

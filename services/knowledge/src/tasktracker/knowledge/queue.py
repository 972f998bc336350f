"""The service's one job, `knowledge_extraction`: its name, its id and how it is kicked."""

from __future__ import annotations

import uuid
from typing import Any

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

KNOWLEDGE_EXTRACTION = "knowledge_extraction"


async def enqueue_extraction(broker: AsyncBroker, extraction_id: uuid.UUID, max_tries: int) -> None:
    """One id per extraction (a repeated kick is dropped by the duplicate window); waits for
    JetStream's PubAck. `max_retries` is the retry middleware's number of tries."""
    kicker: AsyncKicker[Any, Any] = AsyncKicker(
        KNOWLEDGE_EXTRACTION, broker, labels={"max_retries": max_tries}
    )
    await kicker.with_task_id(f"extraction-{extraction_id}").kiq(str(extraction_id))

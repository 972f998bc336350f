"""The service's one job, `execute_analysis_run`: its name and how it is kicked."""

from __future__ import annotations

import uuid
from typing import Any

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

EXECUTE_ANALYSIS_RUN = "execute_analysis_run"


async def enqueue_run(broker: AsyncBroker, run_id: uuid.UUID, max_tries: int) -> None:
    """One job id per run (a repeated kick is dropped by the duplicate window); waits for
    JetStream's PubAck. `max_retries` is the retry middleware's number of tries."""
    kicker: AsyncKicker[Any, Any] = AsyncKicker(
        EXECUTE_ANALYSIS_RUN, broker, labels={"max_retries": max_tries}
    )
    await kicker.with_task_id(f"run-{run_id}").kiq(str(run_id))

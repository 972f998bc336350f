"""A nats-py connection for publishing and readiness, reconnecting forever."""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client


async def connect(url: str, name: str, **credentials: Any) -> Client:
    """`credentials`: `NatsSettings.nats_credentials()`."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        **credentials,
    )


def nats_check(client: Client):
    async def check() -> None:
        if not client.is_connected:
            raise ConnectionError("NATS is not connected")
        await client.flush(timeout=1)

    return check

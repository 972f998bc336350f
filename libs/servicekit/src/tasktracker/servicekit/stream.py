"""The one `space.>` JetStream stream: the event log every service and the gateway read."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tasktracker.contracts.subjects import STREAM_SUBJECT
from tasktracker.servicekit.settings import NatsSettings

log = logging.getLogger(__name__)


def space_stream_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_name,
        subjects=[STREAM_SUBJECT],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=settings.stream_max_age_seconds,
        duplicate_window=settings.stream_duplicate_window_seconds,
    )


async def ensure_space_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create the stream if missing, else bring its limits to the configured ones.

    Declared here, in one place, before anything subscribes (subscribers pass
    `declare=False`), so no subscriber can create it with only its own subject.
    """
    config = space_stream_config(settings)
    try:
        await js.stream_info(settings.stream_name)
    except NotFoundError:
        await js.add_stream(config=config)
        log.info("created stream %s on %s", settings.stream_name, STREAM_SUBJECT)
        return
    await js.update_stream(config=config)

"""The one `space.>` JetStream stream: the event log every service and the gateway read; and
`ensure_stream` for a service's other streams (e.g. ingestion's stream of webhook updates)."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from tasktracker.contracts.subjects import STREAM_SUBJECT
from tasktracker.servicekit.settings import NatsSettings

log = logging.getLogger(__name__)

STREAM_NAME_IN_USE = 10058  # JetStream API error code: a stream of that name exists


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
    """Create the stream if missing; an existing one is left as it is.

    Declared here, in one place, before anything subscribes (subscribers pass
    `declare=False`), so no subscriber can create it with only its own subject. Services
    never rewrite an existing stream's limits: one service configured with a shorter age
    would otherwise cut the history every client resumes from. A mismatch is logged; the
    operator changes the stream (e.g. `nats stream edit`).
    """
    config = space_stream_config(settings)
    try:
        info = await js.stream_info(settings.stream_name)
    except NotFoundError:
        await js.add_stream(config=config)
        log.info("created stream %s on %s", settings.stream_name, STREAM_SUBJECT)
        return
    wanted = (config.subjects, config.max_age, config.duplicate_window)
    found = (info.config.subjects, info.config.max_age, info.config.duplicate_window)
    if wanted != found:
        log.warning(
            "stream %s exists with (subjects, max_age, duplicate_window) %s, configured %s; "
            "leaving it as it is",
            settings.stream_name,
            found,
            wanted,
        )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream if missing; an existing one is left as it is (an operator may have
    created it with replicas, deploy/README.md). Every process that publishes to it or
    consumes it calls this at start, so neither depends on the other having started."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await js.add_stream(config=config)
        except BadRequestError as exc:  # another process created it meanwhile
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
        else:
            log.info("created stream %s on %s", config.name, config.subjects)

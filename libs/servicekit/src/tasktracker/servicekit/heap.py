"""What a long-lived process allocated while starting, kept out of the cyclic collector's sight.

A process imports FastAPI, pydantic, SQLAlchemy, nats-py, aiogram…: 100,000+ objects that live
as long as it does. Every full collection walked them all, 30 to 65 ms on this machine (the
gateway, the ingestion worker, review), a pause on whatever request or message was in flight:
a p99 spike on the path from the webhook to the socket. `freeze_startup_heap()` collects once,
then moves everything alive into the permanent generation (`gc.freeze`), once startup is done.

Only processes started by a command freeze (`enable()`, called by the CLIs): a test process
builds and drops apps by the hundred, and frozen cyclic garbage would never be reclaimed.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

_enabled = False


def enable() -> None:
    """This process serves until it exits: freeze its startup heap when startup is done."""
    global _enabled
    _enabled = True


def freeze_startup_heap() -> None:
    if not _enabled:
        return
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.debug(
        "%d startup objects frozen in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )

"""A requests-per-minute limit on model calls, shared by every run a worker process executes:
calls are spaced evenly (a start every 60/rpm seconds), so a burst never exceeds it."""

from __future__ import annotations

import asyncio
import time


class RequestsPerMinute:
    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next call may start."""
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

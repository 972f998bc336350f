"""Every stop signal (Ctrl-C, SIGTERM from `timeout` or a supervisor, SIGHUP from a closed
terminal) becomes one orderly stop of the local stack.

A signal only interrupts the steps that are safe to abandon — migrations, waiting for the
services, loading the demo, waiting on the supervisor. Arriving while a server is being started
or while everything is being stopped, it is remembered and acted on at the next safe point, so
no process is ever started without being recorded for the stop, and no stop is cut short.
Signals after the first are ignored: the stop they ask for is already under way.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(BaseException):
    """Raised in the main thread at a safe point after a stop signal. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class StopSignals:
    def __init__(self) -> None:
        self.received: int | None = None
        self._interruptible = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A step a stop signal may abandon at once (raising StopRequested inside it)."""
        self.check()
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def check(self) -> None:
        """Act on a signal that arrived while nothing could be interrupted."""
        if self.received is not None:
            raise StopRequested(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self._interruptible:
            self._interruptible = False
            raise StopRequested(signum)

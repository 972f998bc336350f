"""Doubling delays, for a batch consumer's waits: while its database is away, and before the
next try of a message that failed alone."""

from __future__ import annotations


def doubling(base: float, maximum: float, failures: int) -> float:
    """After `failures` failures in a row: `base`, doubled for each failure after the first,
    at most `maximum`."""
    return min(base * 2 ** (failures - 1), maximum)


class OutageBackoff:
    """Doubling from `base` up to `maximum`; back to `base` once a batch is stored."""

    def __init__(self, base: float, maximum: float) -> None:
        self.base = base
        self.maximum = maximum
        self._failures = 0

    def next_delay(self) -> float:
        self._failures += 1
        return doubling(self.base, self.maximum, self._failures)

    def reset(self) -> None:
        self._failures = 0

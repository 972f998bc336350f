"""The batch consumers' doubling waits."""

from __future__ import annotations

from tasktracker.servicekit.backoff import OutageBackoff, doubling


def test_doubling_starts_at_the_base_and_stops_at_the_maximum() -> None:
    assert [doubling(0.5, 3.0, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_an_outage_backoff_doubles_until_reset() -> None:
    backoff = OutageBackoff(0.5, 15)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5

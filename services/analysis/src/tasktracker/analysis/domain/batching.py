"""How a run's window is cut into batches (DESIGN.md §4).

Messages in time order (ties by id, so equal timestamps keep one order every time); a new
batch starts when the gap to the previous message is at least the project's gap, or when the
batch is full. A gap of exactly the setting starts a new batch: "after a 10-minute gap" counts
the 10th minute as the gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_GAP_MINUTES = 10
DEFAULT_MAX_MESSAGES = 50


@dataclass(frozen=True)
class Timed:
    """What batching needs of a message: its id and when it was sent."""

    id: int
    sent_at: datetime


def plan_batches(
    messages: Iterable[Timed],
    *,
    gap: timedelta = timedelta(minutes=DEFAULT_GAP_MINUTES),
    max_size: int = DEFAULT_MAX_MESSAGES,
) -> list[list[int]]:
    """The message ids of each batch, batches and ids in time order."""
    if max_size < 1:
        raise ValueError("a batch holds at least one message")
    if gap <= timedelta(0):
        raise ValueError("the gap must be positive")
    batches: list[list[int]] = []
    previous: Timed | None = None
    for message in sorted(messages, key=lambda m: (m.sent_at, m.id)):
        if (
            previous is None
            or message.sent_at - previous.sent_at >= gap
            or len(batches[-1]) >= max_size
        ):
            batches.append([])
        batches[-1].append(message.id)
        previous = message
    return batches


def batch_sizes(batches: Sequence[Sequence[int]]) -> list[int]:
    return [len(batch) for batch in batches]


def split_by_sizes(ids: Sequence[int], sizes: Sequence[int]) -> list[list[int]]:
    """The batches again from the ids fixed at start and their sizes: every try of the job
    cuts the window identically, whatever arrived in the read model since."""
    if sum(sizes) != len(ids):
        raise ValueError("the sizes do not add up to the ids")
    batches, start = [], 0
    for size in sizes:
        batches.append(list(ids[start : start + size]))
        start += size
    return batches

"""Batching of a run's window: time order, the gap, the maximum size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasktracker.analysis.domain.batching import Timed, plan_batches, split_by_sizes

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def at(id: int, minutes: float) -> Timed:
    return Timed(id=id, sent_at=T0 + timedelta(minutes=minutes))


def test_empty_window_has_no_batch() -> None:
    assert plan_batches([]) == []


def test_one_message_is_one_batch() -> None:
    assert plan_batches([at(7, 0)]) == [[7]]


def test_a_gap_of_exactly_ten_minutes_starts_a_new_batch() -> None:
    messages = [at(1, 0), at(2, 10), at(3, 19.99), at(4, 29.99)]
    assert plan_batches(messages) == [[1], [2, 3], [4]]


def test_a_gap_just_under_ten_minutes_does_not() -> None:
    nearly = timedelta(minutes=10) - timedelta(microseconds=1)
    messages = [Timed(1, T0), Timed(2, T0 + nearly)]
    assert plan_batches(messages) == [[1, 2]]


def test_fifty_messages_fill_one_batch_and_the_fifty_first_starts_another() -> None:
    fifty = [at(i, i * 0.1) for i in range(1, 51)]
    assert plan_batches(fifty) == [list(range(1, 51))]
    fifty_one = [*fifty, at(51, 5.1)]
    assert plan_batches(fifty_one) == [list(range(1, 51)), [51]]


def test_equal_timestamps_are_ordered_by_id_every_time() -> None:
    messages = [at(30, 1), at(10, 1), at(20, 1)]
    assert plan_batches(messages) == [[10, 20, 30]]
    assert plan_batches(list(reversed(messages))) == [[10, 20, 30]]


def test_input_out_of_order_is_batched_in_time_order() -> None:
    messages = [at(3, 25), at(1, 0), at(4, 26), at(2, 1)]
    assert plan_batches(messages) == [[1, 2], [3, 4]]


def test_the_project_settings_apply() -> None:
    messages = [at(i, i) for i in range(1, 8)]  # one a minute
    assert plan_batches(messages, gap=timedelta(minutes=1)) == [[i] for i in range(1, 8)]
    assert plan_batches(messages, max_size=3) == [[1, 2, 3], [4, 5, 6], [7]]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_batches([at(1, 0)], max_size=0)
    with pytest.raises(ValueError):
        plan_batches([at(1, 0)], gap=timedelta(0))


def test_batches_are_cut_again_from_the_ids_and_sizes_fixed_at_start() -> None:
    assert split_by_sizes([5, 6, 7, 8], [1, 3]) == [[5], [6, 7, 8]]
    with pytest.raises(ValueError):
        split_by_sizes([5, 6], [3])

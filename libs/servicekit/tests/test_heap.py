"""A process started by a command freezes its startup heap once started; anything else (a test
building apps by the hundred) never does."""

from __future__ import annotations

import gc
import weakref

import pytest

from tasktracker.servicekit import heap


@pytest.fixture
def unfrozen(monkeypatch):
    monkeypatch.setattr(heap, "_enabled", False)
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting what it frees


def test_nothing_is_frozen_unless_a_command_enabled_it(unfrozen):
    heap.freeze_startup_heap()
    assert gc.get_freeze_count() == 0


def test_an_enabled_process_freezes_what_is_alive_and_collects_the_garbage_first(unfrozen):
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Cycle())  # only the cyclic collector frees it
    kept = Cycle()
    heap.enable()
    heap.freeze_startup_heap()
    assert garbage() is None  # collected first, not frozen forever
    assert gc.get_freeze_count() > 0
    assert kept.me is kept

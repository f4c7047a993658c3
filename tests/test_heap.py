"""bot/heap.py: after start-up, what is alive leaves the collector's walks and what is
garbage is collected first (a cycle made before `settle` is not frozen with the rest)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot import heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_collects_garbage_then_freezes_what_lives(unfrozen: None) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle only the collector frees
    gone = weakref.ref(first)
    del first, second
    kept = [Node() for _ in range(1000)]

    frozen = heap.settle()

    assert gone() is None
    assert gc.get_threshold() == heap.THRESHOLDS
    assert frozen == gc.get_freeze_count() >= len(kept)
    # A full collection no longer walks them: its tracked objects are only the new ones.
    assert all(not gc.is_finalized(node) for node in kept)
    tracked = {id(obj) for obj in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept)

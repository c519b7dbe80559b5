"""app/heap.py: after startup the heap is frozen and young passes are rarer."""
from __future__ import annotations

import gc

from app import heap


def test_settle_freezes_the_heap_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        heap.settle_after_startup()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, heap.OLDER_EVERY, heap.OLDER_EVERY)
        # Cycles are still collected.
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

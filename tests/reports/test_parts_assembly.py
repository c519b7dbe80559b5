"""app/reports/parts.py: the order statistics and kept values the kinds'
assemblies find over their parts' rows (the funnel's durations, the trends'
medians)."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.reports.parts import kth_smallest, top_values

VALUES = st.integers(-20, 20) | st.decimals(-5, 5, places=2)


@given(st.lists(st.lists(VALUES, max_size=12).map(sorted), min_size=1, max_size=7), st.data())
def test_kth_smallest_is_the_sorted_concatenations(arrays, data):
    together = sorted(v for a in arrays for v in a)
    if together:
        i = data.draw(st.integers(0, len(together) - 1))
        assert kth_smallest(arrays, i) == together[i]


def test_kth_smallest_of_equal_values_and_empty_arrays():
    arrays = [[], [Decimal(2), Decimal(2)], [], [Decimal("2.0")]]
    assert [kth_smallest(arrays, i) for i in range(3)] == [2, 2, 2]
    assert kth_smallest([[1, 5], [2, 3, 4]], 4) == 5


def test_top_values_by_count_then_code_points():
    counts = {"b": 6, "Z": 5, "é": 5, None: 9, "a": 1}
    assert top_values(counts, 2) == {"b": 1, "Z": 2}
    assert top_values(counts, 10) == {"b": 1, "Z": 2, "é": 3, "a": 4}

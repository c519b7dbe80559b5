"""Assembling a report from its parts' rows (ReportKind.build_parts: one
statement per range of person ids, docs/decisions.md "Reports split over
connections in one snapshot"), the pieces the kinds share:

- `top_values`: the breakdown or segment values kept over all the parts (a
  part returns its rows per raw value; which values are kept depends on
  every part's counts), the others folding into null;
- `kth_smallest`: an order statistic (a median's middle values, a p90's)
  of a group whose values come as several sorted arrays (one per part and
  raw value), found without merging or sorting them again;
- `EXACT`: the Decimal context in which the parts' NUMERIC sums are added
  up, without rounding (PostgreSQL's numeric sum of the one statement does
  not round; Python's default context keeps 28 digits).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context
from itertools import accumulate
from typing import Any, Mapping, Sequence

# Decimal arithmetic without rounding, for the parts' NUMERIC sums.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def top_values(counts: Mapping[str | None, int], limit: int) -> dict[str, int]:
    """{value: rank 1..limit} of the `limit` non-null values with the highest
    counts, ties by value ascending in code-point order (as COLLATE "C"
    orders UTF-8 text, and as Python compares str); the values not in it
    (and null) fold into rank 0, the null series or segment."""
    kept = sorted((v for v in counts if v is not None), key=lambda v: (-counts[v], v))[:limit]
    return {v: i + 1 for i, v in enumerate(kept)}


def kth_smallest(arrays: Sequence[Sequence[Any]], i: int) -> Any:
    """The i-th smallest (0-based) of the elements of the sorted arrays
    together (0 ≤ i < their total length), exact for any totally ordered
    values (whole µs, Decimals): one array, its i-th; else, while more than
    one array has elements left, a pivot (the weighted median of the middles
    of what is left of each array) splits every array by bisection, and the
    side that cannot hold the i-th is dropped: at least a quarter of the
    elements left each round, so O(log n) rounds of O(arrays · log n)
    comparisons, with no merge."""
    live = [(a, 0, len(a)) for a in arrays if len(a)]
    while len(live) > 1:
        middles = sorted(((b[(blo + bhi) // 2], bhi - blo) for b, blo, bhi in live), key=lambda x: x[0])
        weights = list(accumulate(w for _, w in middles))
        pivot = middles[bisect_left(weights, weights[-1] / 2)][0]
        below = [bisect_left(b, pivot, blo, bhi) for b, blo, bhi in live]
        upto = [bisect_right(b, pivot, blo, bhi) for b, blo, bhi in live]
        n_below = sum(j - blo for j, (_, blo, _) in zip(below, live))
        n_upto = sum(j - blo for j, (_, blo, _) in zip(upto, live))
        if i < n_below:
            live = [(b, blo, j) for j, (b, blo, _) in zip(below, live) if j > blo]
        elif i < n_upto:
            return pivot
        else:
            i -= n_upto
            live = [(b, j, bhi) for j, (b, _, bhi) in zip(upto, live) if bhi > j]
    a, lo, _ = live[0]
    return a[lo + i]

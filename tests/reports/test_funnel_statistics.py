"""The duration statistics of a segmented funnel (app/reports/funnel/statement.py,
`_merged_statistics`): each segment's durations sorted once, everyone's
order statistics found in the segments' sorted arrays by a binary search over
whole microseconds. Against the oracle (tests/support/reference.py), with durations
that interleave across segments, repeat within and across segments, differ by
one microsecond, are zero, or span days; with odd and even counts; for both
ways of computing the chains (set-based, walked).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.reports.funnel import assembly
from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec, compute_funnel
from tests.support.server import make_project
from tests.support.funnel_oracle import T0, compare, load, oracle

US = 1e-6
# (segment value, seconds from A to B, seconds from B to C or None)
PEOPLE = [
    ("a", 0, 5), ("a", 30, None), ("a", 30, 1), ("a", 3 * 86400 + US, 7), ("a", 600, None),
    ("b", 30, 5), ("b", 30 + US, None), ("b", 29 + 999999 * US, 2), ("b", 86400, 86400),
    ("c", 45, None), ("c", 0, 0), ("c", 2 * 86400 + 0.5, 3 * US),
    (None, 30, 5), (None, 1, None),
]


def scenario(extra: int) -> dict:
    events = []
    for i, (value, ab, bc) in enumerate(PEOPLE[: len(PEOPLE) - extra]):
        who = f"p{i}"
        events.append((who, "A", 0, {} if value is None else {"x": value}))
        events.append((who, "B", ab, {}))
        if bc is not None:
            events.append((who, "C", ab + bc, {}))
    return {"before": events, "links": [], "after": [], "sets": []}


@pytest.mark.parametrize("names", [("A", "B", "C"), ("A", "B", "C", "A")], ids=["set-based", "walked"])
@pytest.mark.parametrize("extra", [0, 1], ids=["even", "odd"])
@pytest.mark.parametrize("limit", [2, 3])
async def test_everyones_order_statistics_from_the_segments_match_the_oracle(services, names, extra, limit):
    project = await make_project(services, "funnel-stats")
    sc = scenario(extra)
    await load(services, project.id, sc)
    spec = FunnelSpec(
        tuple(FunnelStepSpec(n) for n in names), T0 - timedelta(seconds=1), T0 + timedelta(days=10), None,
        SegmentSpec(first_step_property="x", limit=limit),
    )
    result = await compute_funnel(services.pool, project.id, spec)
    want = await oracle(services, project.id, {**sc, "segment": {"firstStepProperty": "x", "limit": limit,
                                                                  "baseline": None}}, spec)
    compare(result, want)
    # in parts (build_parts): the same, exactly
    # (the order statistics by halving over the arrays, then by one merge of them)
    halvings = assembly._HALVINGS
    for parts in (2, 3):
        for way in (0, 10**9):
            assembly._HALVINGS = way
            try:
                split = await compute_funnel(services.pool, project.id, spec, with_people=False, parts=parts)
            finally:
                assembly._HALVINGS = halvings
            assert (split.steps, split.segments) == (result.steps, result.segments), (parts, way)
    # everyone's median and p90 of step 1 exactly as the sorted durations give them
    durations = sorted(round(ab * 1e6) for _, ab, _ in PEOPLE[: len(PEOPLE) - extra])
    n = len(durations)
    median = (durations[(n - 1) // 2] / 1e6 + durations[n // 2] / 1e6) / 2.0
    assert result.steps[1].time_from_previous.median_seconds == median
    assert len(result.segments) == limit + 1

"""The set-based funnel's two branches (app/reports/funnel/statement.py) against the
oracle (tests/support/reference.py): people whose starts are all after their last
step-1 event, or who have none (`lone`: level 1, no window pass), beside people
with a chain (`chained`), in one project; with and without a window, with each
kind of segment, with a filter on step 1; and the same funnels with a repeated
step name (the PL/pgSQL walk) for comparison.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec, compute_funnel
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.server import make_project
from tests.support.funnel_oracle import T0, compare, load, oracle

EVENTS = [
    # (identity, name, seconds after T0, properties); one batch, seq in this order.
    ("none", "A", 0, {"x": "a"}), ("none", "A", 10, {"x": "b"}),             # no B at all
    ("late", "B", 5, {"y": 1}), ("late", "A", 10, {"x": "b"}), ("late", "A", 20, {"x": "a"}),  # A only after B
    ("mixed", "A", 0, {"x": "b"}), ("mixed", "B", 30, {"y": 1}), ("mixed", "A", 40), ("mixed", "C", 50),
    ("tie", "A", 0, {"x": "a"}), ("tie", "A", 0),                            # same µs, no B: first received
    ("tie2", "A", 0), ("tie2", "A", 0, {"x": "a"}), ("tie2", "B", 1, {"y": 2}),
    ("filtered", "A", 0, {"x": "c"}), ("filtered", "B", 1, {"y": 2}), ("filtered", "C", 2),
    ("slow", "A", 0, {"x": "a"}), ("slow", "B", 100, {"y": 1}), ("slow", "A", 90), ("slow", "C", 120),
    ("only-b", "B", 0), ("only-b", "C", 1),
]
SCENARIO = {"before": [e if len(e) == 4 else (*e, {}) for e in EVENTS], "links": [], "after": [], "sets": [("late", "x", "p", 0), ("mixed", "x", "q", 0)]}


@pytest.mark.parametrize("names", [("A", "B", "C"), ("A", "B", "C", "A")], ids=["set-based", "walked"])
@pytest.mark.parametrize("window", [None, 60])
@pytest.mark.parametrize("segment", [None, "firstStepProperty", "personProperty"])
@pytest.mark.parametrize("b_filter", [False, True], ids=["B", "B where y = 1"])
async def test_lone_and_chained_people_match_the_oracle(services, names, window, segment, b_filter):
    project = await make_project(services, "funnel-lone")
    await load(services, project.id, SCENARIO)
    where = (PropertyFilter("y", FilterOp.EQ, 1),) if b_filter else ()
    steps = tuple(FunnelStepSpec(n, where if n == "B" else ()) for n in names)
    seg = None if segment is None else {segment: "x", "limit": 2, "baseline": None}
    spec = FunnelSpec(
        steps, T0 - timedelta(seconds=1), T0 + timedelta(hours=1), window,
        None if seg is None else SegmentSpec(
            person_property=seg.get("personProperty"), first_step_property=seg.get("firstStepProperty"), limit=2),
    )
    result = await compute_funnel(services.pool, project.id, spec)
    want = await oracle(services, project.id, {**SCENARIO, "segment": seg}, spec)
    compare(result, want)
    assert result.steps[0].people == 7


async def test_one_step_funnel_takes_the_earliest_start(services):
    project = await make_project(services, "funnel-one")
    await load(services, project.id, SCENARIO)
    seg = {"firstStepProperty": "x", "limit": 3, "baseline": None}
    spec = FunnelSpec((FunnelStepSpec("A"),), T0 - timedelta(seconds=1), T0 + timedelta(hours=1), None,
                      SegmentSpec(first_step_property="x", limit=3))
    result = await compute_funnel(services.pool, project.id, spec)
    compare(result, await oracle(services, project.id, {**SCENARIO, "segment": seg}, spec))

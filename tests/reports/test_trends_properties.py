"""Random trends against the oracle (tests/support/reference.py `trends`).

Each example: a fresh project with a random world (tests/support/worlds.py `trend_worlds`:
merges by identify/alias after some events, same-second and repeated events,
late events, numeric strings, current person properties) and a random trend
(1-3 series of random maths, `where` filters, a breakdown by an event or a
person property or none, an interval and range of a few periods, a people
filter or none). The report (TRENDS through the report service, in parts and as the one
statement: the `parts` fixture) must equal
the oracle's, series by series and point by point, and every PEOPLE point's
peopleList (TRENDS_PEOPLE) the oracle's sorted person ids.
"""
from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reports.periods import Period
from app.reports.trends.statement import parts_add_up
from app.reports.trends import TRENDS, TRENDS_PEOPLE, BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
from tests.support.database import CITUS_URL
from tests.support.server import make_project
from tests.support.reference import trends as reference_trends
from tests.support.worlds import KEYS, MONTH_END, NAMES, filter_dicts, load, people_dict, stored, trend_worlds, where

WHERE = where(MONTH_END)


@st.composite
def series(draw) -> SeriesSpec:
    m = draw(st.sampled_from(list(TrendMath)))
    return SeriesSpec(draw(st.sampled_from(NAMES)), draw(WHERE), m,
                      draw(st.sampled_from(KEYS)) if m.of_property else None)


breakdowns = st.none() | st.builds(
    lambda kind, key, limit: BreakdownSpec(**{kind: key, "limit": limit}),
    st.sampled_from(["event_property", "person_property"]), st.sampled_from(KEYS), st.integers(1, 3),
)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


EXAMPLES: list[int] = []
MAX_EXAMPLES = int(os.environ.get("WHODID_TRENDS_EXAMPLES", "40"))


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=trend_worlds(), trend=st.lists(series(), min_size=1, max_size=3), breakdown=breakdowns)
async def test_trends_match_the_oracle(services, parts, world, trend, breakdown):
    project = await make_project(services, "trends-prop")
    await load(services, project.id, world)
    spec = TrendsSpec(tuple(trend), world["from"], world["to"], Period(world["interval"]), breakdown,
                      world["people"])
    split = services.reports.split_computations["trends"]
    result = (await services.reports.report(TRENDS, project.id, spec)).value
    # In parts unless they would not add up (people by an event property).
    assert services.reports.split_computations["trends"] - split == (parts > 1 and parts_add_up(spec))

    events, person_props = await stored(services, project.id)
    want = reference_trends(
        events, person_props,
        [{"event": s.event, "where": filter_dicts(s.where), "math": s.math.value, "property": s.property}
         for s in trend],
        spec.from_, spec.to, world["interval"],
        None if breakdown is None else {
            ("eventProperty" if breakdown.event_property else "personProperty"): breakdown.key,
            "limit": breakdown.limit},
        people_dict(world["people"]),
    )
    got = result.series
    assert [(s.index, s.event, s.math.value, s.breakdown_value) for s in got] == [
        (w["index"], w["event"], w["math"], w["breakdownValue"]) for w in want]
    for s, w in zip(got, want):
        at = f"series {s.index} {s.breakdown_value!r}"
        assert close(s.total, w["total"]), (at, s.total, w["total"])
        assert [p.start for p in s.points] == [p["start"] for p in w["points"]], at
        for p, wp in zip(s.points, w["points"]):
            assert close(p.value, wp["value"]), (at, p.start, p.value, wp["value"])
            if s.math is TrendMath.PEOPLE and wp["people"]:
                page = (await services.reports.report(
                    TRENDS_PEOPLE, project.id, TrendPeopleSpec(spec, s.index, s.rank, p.start, 1000))).value
                assert [str(i) for i in page.ids] == wp["people"], (at, p.start)
                assert page.total == len(wp["people"]) and not page.has_next_page
    EXAMPLES.append(sum(1 for s in got if s.total))


def test_the_property_test_ran_many_varied_examples():
    """Runs after the property test (file order): it ran its examples, and some
    of them had events in a series."""
    if not EXAMPLES:
        pytest.skip("the property test did not run in this session")
    # with the parts and without (on Citus without only: tests/support/parts.py)
    assert len(EXAMPLES) >= (1 if CITUS_URL else 2) * MAX_EXAMPLES, len(EXAMPLES)
    assert sum(1 for n in EXAMPLES if n > 0) >= 3, EXAMPLES

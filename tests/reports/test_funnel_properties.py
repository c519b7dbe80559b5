"""Random funnels against the oracle (tests/support/reference.py `funnel`).

Each example: a fresh project; random people (some merged by identify/alias after
some of their events), random events (names from a small alphabet, timestamps from
a small set so that equal ones happen, small-valued properties), random current
person properties; a random funnel (2-4 steps, repeated names, `where` filters,
random range, window or none, segmentBy or none). The SQL answer (compute_funnel)
must equal the oracle's, field by field, peopleList orders included. The oracle is
fed what the database holds: each event's current person_id and seq, each live
person's current properties.
"""
from __future__ import annotations

import os
from datetime import timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.errors import BadInput
from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec, compute_funnel
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.server import make_project

from tests.support.funnel_oracle import T0, compare, load, oracle
from tests.support.reference import Ev, funnel as reference_funnel

UTC = timezone.utc
NAMES = ["A", "B", "C"]
IDENTITIES = [f"user-{i}" for i in range(6)]
KEYS = ["x", "y"]
VALUES = [None, True, False, 0, 1, 2, 10, "a", "b", "1", "10", "ab"]
# Offsets (s) from T0: equal timestamps are frequent; some fall outside the range.
OFFSETS = [-60, 0, 0, 0.5, 1, 1, 1.000001, 2, 30, 61, 120, 3600, 3601, 90000]

values = st.sampled_from(VALUES)
properties = st.dictionaries(st.sampled_from(KEYS), values, max_size=2)


@st.composite
def filters(draw) -> PropertyFilter:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(list(FilterOp)))
    if op is FilterOp.IN:
        value: Any = draw(st.lists(values, min_size=1, max_size=3))
    elif op in (FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE):
        value = draw(st.sampled_from([0, 1, 2, "1", "5"]))
    elif op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        value = draw(st.sampled_from(["a", "1", "b", 1, True]))
    elif op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        value = None
    else:
        value = draw(values)
    return PropertyFilter(key, op, value)


@st.composite
def scenarios(draw, properties=properties) -> dict:
    event = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(NAMES), st.sampled_from(OFFSETS), properties)
    links = st.tuples(st.sampled_from(["identify", "alias"]), st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES))
    sets = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(KEYS), values, st.integers(0, 3))
    steps = st.lists(
        st.tuples(st.sampled_from(NAMES), st.just([]) | st.just([]) | st.lists(filters(), min_size=1, max_size=2)),
        min_size=2,
        max_size=4,
    )
    start = draw(st.sampled_from([-60, 0, 0, 1, 2]))
    length = draw(st.sampled_from([0, 2, 62, 3601, 3601, 100000, 100000]))
    segment = draw(
        st.none()
        | st.builds(
            lambda kind, key, limit, baseline: {kind: key, "limit": limit, "baseline": baseline},
            st.sampled_from(["personProperty", "firstStepProperty"]),
            st.sampled_from(KEYS),
            st.integers(1, 3),
            st.none() | st.sampled_from(["a", "1", "true", "null", "zzz"]),
        )
    )
    return {
        "before": draw(st.lists(event, min_size=4, max_size=40)),
        "links": draw(st.lists(links, max_size=4)),
        "after": draw(st.lists(event, max_size=8)),
        "sets": draw(st.lists(sets, max_size=6)),
        "steps": draw(steps),
        "from": T0 + timedelta(seconds=start),
        "to": T0 + timedelta(seconds=start + length),
        "window": draw(st.none() | st.sampled_from([1, 2, 60, 3600])),
        "segment": segment,
    }


EXAMPLES: list[int] = []


async def same_in_parts(services, project_id, spec: FunnelSpec, result) -> None:
    """The funnel in parts (build_parts: 2 and 3 ranges of person ids, the
    service's way without peopleList) gives the one statement's answer,
    which matched the oracle, exactly."""
    for parts in (2, 3):
        split = await compute_funnel(services.pool, project_id, spec, with_people=False, parts=parts)
        assert (split.steps, split.segments) == (result.steps, result.segments), parts


# WHODID_FUNNEL_EXAMPLES=2000 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("WHODID_FUNNEL_EXAMPLES", "40"))


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(scenario=scenarios())
async def test_funnel_matches_the_oracle(services, scenario):
    project = await make_project(services, "funnel-prop")
    await load(services, project.id, scenario)
    seg = scenario["segment"]
    try:
        spec = FunnelSpec(
            steps=tuple(FunnelStepSpec(name, tuple(where)) for name, where in scenario["steps"]),
            from_=scenario["from"],
            to=scenario["to"],
            window_seconds=scenario["window"],
            segment_by=None if seg is None else SegmentSpec(
                person_property=seg.get("personProperty"),
                first_step_property=seg.get("firstStepProperty"),
                limit=seg["limit"],
                baseline=seg["baseline"],
            ),
        )
    except BadInput as e:  # the strategies only make valid funnels
        raise AssertionError(f"invalid spec: {e}") from e
    result = await compute_funnel(services.pool, project.id, spec)
    want = await oracle(services, project.id, scenario, spec)
    compare(result, want)
    await same_in_parts(services, project.id, spec, result)
    EXAMPLES.append(sum(s.people for s in result.steps))


def test_the_property_test_ran_many_varied_examples():
    """Runs after the property test (file order): it must have run its examples,
    and a share of them must have had people in the funnel."""
    if not EXAMPLES:
        pytest.skip("the property test did not run in this session")
    assert len(EXAMPLES) >= MAX_EXAMPLES, len(EXAMPLES)
    # Random draws vary run to run: 7 to 29 of 40 examples had people in
    # 2026-11-29's runs (a fifth, the bound before, failed once in CI-like
    # runs). Three show the comparisons were not all of empty funnels.
    assert sum(1 for n in EXAMPLES if n > 0) >= 3, EXAMPLES


# ======================================================================= options
# The same worlds with the funnel's options (DESIGN.md §5, "Funnel: exclusions,
# holding a property constant, conversion over time", "Population filter"):
# exclusions (0-2, random steps, names and filters), holdConstant, a population
# (properties, didEvent within random bounds) and the trend by HOUR or DAY.


def _filter_dicts(fs) -> list[dict] | None:
    return [{"key": f.key, "op": f.op.value, "value": f.value} for f in fs] or None


# Few values, so that a held property often has equal and different values
# among a person's events (with VALUES a person rarely has two equal ones).
FEW_VALUES = st.dictionaries(st.sampled_from(KEYS), st.sampled_from([1, "1", "a", None]), max_size=2)


@st.composite
def option_scenarios(draw) -> dict:
    scenario = draw(scenarios() | scenarios(properties=FEW_VALUES))
    n = len(scenario["steps"])
    exclusion = st.builds(
        lambda event, where, after, gap: (event, where, after, gap),
        st.sampled_from(NAMES),
        st.just([]) | st.lists(filters(), min_size=1, max_size=1),
        st.integers(0, n - 2),
        st.integers(1, n - 1),
    )
    exclusions = []
    for event, where, after, gap in draw(st.lists(exclusion, max_size=2)):
        exclusions.append((event, where, after, min(after + gap, n - 1)))
    people = draw(
        st.none()
        | st.builds(
            lambda props, did, lo, hi: {"properties": props, "didEvent": did, "from": lo, "to": hi},
            st.lists(filters(), max_size=2),
            st.none() | st.sampled_from(NAMES),
            st.none() | st.sampled_from([T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=61)]),
            st.none() | st.sampled_from([T0 + timedelta(seconds=2), T0 + timedelta(seconds=3600)]),
        ).filter(lambda p: p["from"] is None or p["to"] is None or p["from"] <= p["to"])
    )
    scenario.update(
        exclusions=exclusions,
        hold=draw(st.none() | st.sampled_from(KEYS)),
        people=people,
        trend=draw(st.sampled_from(["HOUR", "DAY"])),
    )
    return scenario


def option_spec(scenario: dict) -> FunnelSpec:
    from app.reports.funnel import ExclusionSpec
    from app.reports.population import Population

    seg = scenario["segment"]
    people = scenario["people"]
    return FunnelSpec(
        steps=tuple(FunnelStepSpec(name, tuple(where)) for name, where in scenario["steps"]),
        from_=scenario["from"],
        to=scenario["to"],
        window_seconds=scenario["window"],
        segment_by=None if seg is None else SegmentSpec(
            person_property=seg.get("personProperty"),
            first_step_property=seg.get("firstStepProperty"),
            limit=seg["limit"],
            baseline=seg["baseline"],
        ),
        exclusions=tuple(ExclusionSpec(e, a, b, tuple(w)) for e, w, a, b in scenario["exclusions"]),
        hold_constant=scenario["hold"],
        people=None if people is None else Population(
            properties=tuple(people["properties"]), did_event=people["didEvent"],
            from_=people["from"], to=people["to"],
        ),
    )


OPTION_EXAMPLES: list[int] = []

# Two worlds where people enter the funnel, every option on, run first in
# every run: CI's fixed sequence of examples (derandomized, seeded by the
# test's source) may hold few funnels that anyone enters.
_ENTERED = {
    "before": [("user-0", "A", 0, {"x": "a"}), ("user-0", "B", 1, {}), ("user-1", "A", 0, {"x": "b"}),
               ("user-1", "C", 0.5, {}), ("user-1", "B", 2, {}), ("user-2", "A", 1, {"x": "a"}),
               ("user-2", "B", 30, {"x": "a"})],
    "links": [("identify", "user-3", "user-2")], "after": [("user-3", "B", 61, {})], "sets": [],
    "steps": [("A", []), ("B", [])], "from": T0, "to": T0 + timedelta(seconds=3601), "window": None,
}
_WITH_EXCLUSION_AND_HOLD = dict(
    _ENTERED, segment={"firstStepProperty": "x", "limit": 1, "baseline": None},
    exclusions=[("C", [], 0, 1)], hold="x", people=None, trend="HOUR")
_WITH_PEOPLE_FILTER = dict(
    _ENTERED, window=60, segment=None, exclusions=[], hold=None, trend="DAY",
    people={"properties": [], "didEvent": "A", "from": None, "to": None})


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(scenario=option_scenarios())
@example(scenario=_WITH_EXCLUSION_AND_HOLD)
@example(scenario=_WITH_PEOPLE_FILTER)
async def test_funnel_with_options_matches_the_oracle(services, scenario):
    project = await make_project(services, "funnel-opt")
    await load(services, project.id, scenario)
    try:
        spec = option_spec(scenario)
    except BadInput as e:  # the strategies only make valid funnels
        raise AssertionError(f"invalid spec: {e}") from e
    result = await compute_funnel(services.pool, project.id, spec)
    async with services.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, person_id, name, properties, ts FROM events WHERE project_id = $1", project.id
        )
        persons = await conn.fetch(
            "SELECT id, properties FROM persons WHERE project_id = $1 AND merged_into IS NULL", project.id
        )
    events = [Ev(r["seq"], str(r["person_id"]), r["name"], r["properties"], r["ts"]) for r in rows]
    person_props = {str(r["id"]): r["properties"] for r in persons}
    steps = [{"event": s.event, "where": _filter_dicts(s.where)} for s in spec.steps]
    people = scenario["people"]
    want = reference_funnel(
        events, person_props, steps, spec.from_, spec.to, spec.window_seconds, scenario["segment"],
        exclusions=[
            {"event": e, "where": _filter_dicts(w), "afterStep": a, "beforeStep": b}
            for e, w, a, b in scenario["exclusions"]
        ] or None,
        hold_constant=scenario["hold"],
        people=None if people is None else dict(people, properties=_filter_dicts(people["properties"])),
        trend_interval=scenario["trend"],
    )
    compare(result, want)
    await same_in_parts(services, project.id, spec, result)
    trend = result.people.trend(spec.from_, spec.to, scenario["trend"])
    assert [
        {"start": s, "entered": e, "converted": c, "rate": c / e if e else 0.0} for s, e, c in trend
    ] == want["trend"]
    OPTION_EXAMPLES.append(sum(s.people for s in result.steps))


def test_the_options_property_test_ran_many_varied_examples():
    if not OPTION_EXAMPLES:
        pytest.skip("the options property test did not run in this session")
    assert len(OPTION_EXAMPLES) >= MAX_EXAMPLES, len(OPTION_EXAMPLES)
    assert sum(1 for n in OPTION_EXAMPLES if n > 0) >= 3, OPTION_EXAMPLES

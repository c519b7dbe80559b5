"""Random lifecycle reports against the oracle (tests/reference.py `lifecycle`).

Each example: a fresh project; random people (some merged by identify/alias after
some of their events), events over six weeks around T0 (equal timestamps,
period edges, events sent late and out of order in a second batch), random
current person properties; a random report (event, `where`, range, interval,
people filter). The answer of ReportService (LIFECYCLE) must equal the
oracle's, every point and every status's people list (LIFECYCLE_PEOPLE, read
in pages), person ids in order. The oracle is fed what the database holds.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.validation import EventIn
from app.reports.lifecycle import LIFECYCLE, LIFECYCLE_PEOPLE, LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.conftest import make_project

from tests.reference import Ev, lifecycle as reference_lifecycle

UTC = timezone.utc
T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
NAMES = ["A", "B", "C"]
IDENTITIES = [f"user-{i}" for i in range(6)]
KEYS = ["x", "y"]
VALUES = [None, True, 0, 1, 2, "a", "b", "1"]
DAY = 86400
# Offsets (s) from T0: before it (history), on and beside period edges, equal ones.
OFFSETS = [-40 * DAY, -26 * DAY, -9 * DAY, -DAY - 1, -DAY, -1, 0, 0, 0.5, 1, 3599, 3600, 3601,
           DAY - 1, DAY, DAY, 2 * DAY + 7200, 3 * DAY, 6 * DAY + 1, 7 * DAY, 8 * DAY, 14 * DAY,
           25 * DAY + 1, 26 * DAY, 31 * DAY]
RANGE_OFFSETS = [-9 * DAY, -DAY, -3600, 0, 0, 1, 3600, DAY, DAY + 1800, 2 * DAY, 7 * DAY, 26 * DAY, 32 * DAY]

values = st.sampled_from(VALUES)
properties = st.dictionaries(st.sampled_from(KEYS), values, max_size=2)


@st.composite
def filters(draw) -> PropertyFilter:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from([FilterOp.EQ, FilterOp.NEQ, FilterOp.EXISTS, FilterOp.GT, FilterOp.IN]))
    if op is FilterOp.IN:
        value: Any = draw(st.lists(values, min_size=1, max_size=2))
    elif op is FilterOp.GT:
        value = draw(st.sampled_from([0, "1"]))
    elif op is FilterOp.EXISTS:
        value = None
    else:
        value = draw(values)
    return PropertyFilter(key, op, value)


@st.composite
def populations(draw) -> Population | None:
    kind = draw(st.sampled_from(["none", "none", "properties", "did"]))
    if kind == "none":
        return None
    if kind == "properties":
        return Population(properties=tuple(draw(st.lists(filters(), min_size=1, max_size=2))))
    lo = draw(st.none() | st.sampled_from(RANGE_OFFSETS))
    return Population(
        did_event=draw(st.sampled_from(NAMES)),
        from_=None if lo is None else T0 + timedelta(seconds=lo),
        to=None if lo is None else T0 + timedelta(seconds=lo + draw(st.sampled_from([0, DAY, 30 * DAY]))),
    )


@st.composite
def scenarios(draw) -> dict:
    event = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(NAMES), st.sampled_from(OFFSETS), properties)
    links = st.tuples(st.sampled_from(["identify", "alias"]), st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES))
    sets = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(KEYS), values, st.integers(0, 3))
    a, b = sorted(draw(st.lists(st.sampled_from(RANGE_OFFSETS), min_size=2, max_size=2)))
    interval = draw(st.sampled_from(list(Period)))
    if interval is Period.HOUR:  # at most a few days of hours
        b = min(b, a + 3 * DAY)
    return {
        "before": draw(st.lists(event, min_size=4, max_size=40)),
        "links": draw(st.lists(links, max_size=4)),
        "after": draw(st.lists(event, max_size=8)),  # late, out of order
        "sets": draw(st.lists(sets, max_size=6)),
        "event": draw(st.sampled_from(NAMES)),
        "where": draw(st.just([]) | st.just([]) | st.lists(filters(), min_size=1, max_size=2)),
        "from": T0 + timedelta(seconds=a),
        "to": T0 + timedelta(seconds=b),
        "interval": interval,
        "people": draw(populations()),
    }


async def load(services, project_id, scenario: dict) -> None:
    def batch(events):
        return [EventIn(i, n, p, T0 + timedelta(seconds=o)) for i, n, o, p in events]

    if scenario["before"]:
        await services.ingest.record_events(project_id, batch(scenario["before"]))
    for kind, a, b in scenario["links"]:
        if a == b:
            continue
        if kind == "identify":
            await services.ingest.identify(project_id, a, b)
        else:
            await services.ingest.alias(project_id, a, b)
    if scenario["after"]:
        await services.ingest.record_events(project_id, batch(scenario["after"]))
    for identity, key, value, minutes in scenario["sets"]:
        await services.ingest.set_properties(project_id, identity, {key: value}, T0 + timedelta(minutes=minutes))


async def world(services, project_id) -> tuple[list[Ev], dict]:
    """What the database holds, as the oracle takes it."""
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, person_id, name, properties, ts FROM events WHERE project_id = $1",
                                project_id)
        persons = await conn.fetch(
            "SELECT id, properties FROM persons WHERE project_id = $1 AND merged_into IS NULL", project_id
        )
    events = [Ev(r["seq"], str(r["person_id"]), r["name"], r["properties"], r["ts"]) for r in rows]
    return events, {str(r["id"]): r["properties"] for r in persons}


def filter_dicts(where) -> list[dict] | None:
    return [{"key": f.key, "op": f.op.value, "value": f.value} for f in where] or None


def population_dict(p: Population | None) -> dict | None:
    if p is None:
        return None
    return {"properties": filter_dicts(p.properties), "didEvent": p.did_event, "from": p.from_, "to": p.to}


async def all_people(services, project_id, spec: LifecycleSpec, start, status, page: int) -> list[str]:
    """Every page of one point's people, following the last id."""
    out: list[str] = []
    after = None
    for _ in range(100):
        got = (await services.reports.report(
            LIFECYCLE_PEOPLE, project_id, LifecyclePeopleSpec(spec, start, status, page, after)
        )).value
        out += [str(p) for p in got.people]
        assert len(got.people) <= page
        if not got.has_next_page:
            return out
        after = got.people[-1]
    raise AssertionError("more than 100 pages")


EXAMPLES: list[int] = []
MAX_EXAMPLES = int(os.environ.get("WHODID_LIFECYCLE_EXAMPLES", "40"))


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(scenario=scenarios(), page=st.sampled_from([1, 2, 1000]))
async def test_lifecycle_matches_the_oracle(services, scenario, page):
    project = await make_project(services, "lifecycle-prop")
    await load(services, project.id, scenario)
    spec = LifecycleSpec(
        event=scenario["event"], where=tuple(scenario["where"]), from_=scenario["from"], to=scenario["to"],
        interval=scenario["interval"], people=scenario["people"],
    )
    result = (await services.reports.report(LIFECYCLE, project.id, spec)).value
    events, props = await world(services, project.id)
    want = reference_lifecycle(
        events, props, spec.event, filter_dicts(spec.where), spec.from_, spec.to, spec.interval.value,
        population_dict(spec.people),
    )
    got = [
        {"start": p.start, "new": p.new, "returning": p.returning, "resurrecting": p.resurrecting,
         "dormant": p.dormant}
        for p in result.points
    ]
    assert got == [{k: v for k, v in w.items() if k != "people"} for w in want]
    for point, w in zip(result.points, want):
        for status in LifecycleStatus:
            if point.count(status) or w["people"][status.value]:
                ids = await all_people(services, project.id, spec, point.start, status, page)
                assert ids == w["people"][status.value], (point.start, status)
    EXAMPLES.append(sum(p.new + p.returning + p.resurrecting + p.dormant for p in result.points))


def test_the_property_test_ran_many_varied_examples():
    if not EXAMPLES:
        pytest.skip("the property test did not run in this session")
    assert len(EXAMPLES) >= MAX_EXAMPLES, len(EXAMPLES)
    assert sum(1 for n in EXAMPLES if n > 0) >= 3, EXAMPLES

"""Random lifecycle reports against the oracle (tests/support/reference.py `lifecycle`).

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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reports.lifecycle import LIFECYCLE, LIFECYCLE_PEOPLE, LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus

from tests.support.reference import lifecycle as reference_lifecycle
from tests.support.server import make_project
from tests.support.worlds import filter_dicts, lifecycle_worlds, load, people_dict, stored


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
@given(scenario=lifecycle_worlds(), page=st.sampled_from([1, 2, 1000]))
async def test_lifecycle_matches_the_oracle(services, parts, scenario, page):
    project = await make_project(services, "lifecycle-prop")
    await load(services, project.id, scenario)
    split = services.reports.split_computations["lifecycle"]
    spec = LifecycleSpec(
        event=scenario["event"], where=tuple(scenario["where"]), from_=scenario["from"], to=scenario["to"],
        interval=scenario["interval"], people=scenario["people"],
    )
    result = (await services.reports.report(LIFECYCLE, project.id, spec)).value
    assert services.reports.split_computations["lifecycle"] - split == (parts > 1)
    events, props = await stored(services, project.id)
    want = reference_lifecycle(
        events, props, spec.event, filter_dicts(spec.where), spec.from_, spec.to, spec.interval.value,
        people_dict(spec.people),
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

"""Random stickiness reports against the oracle (tests/support/reference.py
`stickiness`): a random world (tests/support/worlds.py `trend_worlds`), a random event,
`where`, interval and range of a few periods, a people filter or none. The
report (STICKINESS through the report service) must equal the oracle's, and
every bucket's peopleList (STICKINESS_PEOPLE) its sorted person ids."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reports.periods import Period
from app.reports.stickiness import STICKINESS, STICKINESS_PEOPLE, StickinessPeopleSpec, StickinessSpec
from tests.support.server import make_project
from tests.support.reference import stickiness as reference_stickiness
from tests.support.worlds import MONTH_END, NAMES, filter_dicts, load, people_dict, stored, trend_worlds, where

EXAMPLES: list[int] = []

MAX_EXAMPLES = int(os.environ.get("WHODID_STICKINESS_EXAMPLES", "40"))


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=trend_worlds(), event=st.sampled_from(NAMES), filters=where(MONTH_END))
async def test_stickiness_matches_the_oracle(services, parts, world, event, filters):
    project = await make_project(services, "sticky-prop")
    await load(services, project.id, world)
    spec = StickinessSpec(event, world["from"], world["to"], filters, Period(world["interval"]), world["people"])
    split = services.reports.split_computations["stickiness"]
    result = (await services.reports.report(STICKINESS, project.id, spec)).value
    assert services.reports.split_computations["stickiness"] - split == (parts > 1)

    events, person_props = await stored(services, project.id)
    want = reference_stickiness(events, person_props, event, filter_dicts(filters), spec.from_, spec.to,
                                world["interval"], people_dict(world["people"]))
    assert result.intervals == want["intervals"]
    assert [(b.periods, b.people) for b in result.buckets] == [(w["periods"], w["people"]) for w in want["buckets"]]
    for b, w in zip(result.buckets, want["buckets"]):
        if w["people"]:
            page = (await services.reports.report(
                STICKINESS_PEOPLE, project.id, StickinessPeopleSpec(spec, b.periods, 1000))).value
            assert [str(i) for i in page.ids] == w["peopleIds"], b.periods
            assert page.total == w["people"] and not page.has_next_page
    EXAMPLES.append(sum(b.people for b in result.buckets))


def test_the_property_test_ran_many_varied_examples():
    if not EXAMPLES:
        pytest.skip("the property test did not run in this session")
    assert len(EXAMPLES) >= MAX_EXAMPLES, len(EXAMPLES)
    assert sum(1 for n in EXAMPLES if n > 0) >= 3, EXAMPLES

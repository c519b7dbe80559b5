"""The cohort's options against the oracle (tests/support/reference.py `cohort`) on
random worlds (merges, same-second events, late events): mode FIRST_TIME or
RECURRING, cumulative or not, a population filter or none (DESIGN.md §5,
"Cohort: recurring and cumulative", "Population filter"); and their named edge
cases. tests/reports/test_cohort.py covers the default report."""
from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.cohort import CohortSpec, compute_cohort
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.populations import oracle_people, population, populations
from tests.support.reference import cohort as reference_cohort
from tests.support.scenarios import (
    NAMES, PERIODS, T, as_dicts, fresh_project, oracle_inputs, ops_st, play, range_st,
)

EXAMPLES = {"run": 0, "with_returns": 0, "filtered": 0}

async def person_properties(pool, project_id) -> dict:
    """Each live person's current properties, as the database holds them."""
    rows = await pool.fetch(
        "SELECT id, properties FROM persons WHERE project_id = $1 AND merged_into IS NULL", project_id
    )
    return {str(r["id"]): r["properties"] for r in rows}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(
    ops=ops_st,
    cohort_event=st.sampled_from(NAMES),
    return_event=st.sampled_from(NAMES),
    rng=range_st(),
    cohort_period=st.sampled_from(PERIODS),
    bucket=st.sampled_from(PERIODS),
    buckets=st.integers(1, 6),
    mode=st.sampled_from(["FIRST_TIME", "RECURRING"]),
    cumulative=st.booleans(),
    people=populations(),
)
async def test_cohort_options_match_reference(services, parts, ops, cohort_event, return_event, rng, cohort_period,
                                              bucket, buckets, mode, cumulative, people):
    EXAMPLES["run"] += 1
    project = await fresh_project(services, "cohort-opt")
    await play(services, project.id, ops)
    events, _ = await oracle_inputs(services.pool, project.id)
    props = await person_properties(services.pool, project.id)
    spec = CohortSpec(cohort_event, return_event, rng[0], rng[1], Period(cohort_period), Period(bucket), buckets,
                      mode=mode, cumulative=cumulative, people=population(people))
    split = services.reports.split_computations["cohort"]
    report = await services.reports.cohort(project.id, spec)
    assert services.reports.split_computations["cohort"] - split == (parts > 1)
    expected = reference_cohort(events, cohort_event, return_event, rng[0], rng[1], cohort_period, bucket, buckets,
                                report.computed_at, mode=mode, cumulative=cumulative, people=oracle_people(people),
                                person_props=props)
    assert as_dicts(report.value) == expected
    if any(c["people"] for row in expected for c in row["cells"]):
        EXAMPLES["with_returns"] += 1
    if people is not None:
        everyone = reference_cohort(events, cohort_event, return_event, rng[0], rng[1], cohort_period, bucket,
                                    buckets, report.computed_at, mode=mode, cumulative=cumulative)
        EXAMPLES["filtered"] += everyone != expected
    # Complete flags against a computedAt inside the data.
    got = await compute_cohort(services.pool, project.id, spec, T(2024, 1, 20))
    assert as_dicts(got) == reference_cohort(events, cohort_event, return_event, rng[0], rng[1], cohort_period,
                                             bucket, buckets, T(2024, 1, 20), mode=mode, cumulative=cumulative,
                                             people=oracle_people(people), person_props=props)


def test_cohort_options_property_test_ran_examples():
    assert EXAMPLES["run"] >= 10, EXAMPLES
    assert EXAMPLES["with_returns"] >= 3, EXAMPLES
    # The population changed an answer: 1-18 of 100 examples over seven seeds
    # (a threshold of 2 failed two of them; CI's examples are fixed, conftest.py).
    assert EXAMPLES["filtered"] >= 1, EXAMPLES


# ---------------------------------------------------------------- named cases


async def record(services, project_id, *events) -> None:
    """events: (identity, name, at)."""
    await services.ingest.record_events(project_id, [EventIn(i, n, {}, at) for i, n, at in events])


def cells(row) -> list[int]:
    return [c.people for c in row.cells]


async def test_recurring_puts_a_person_in_several_rows(services):
    project = await fresh_project(services, "cohort-recurring")
    await record(
        services, project.id,
        ("a", "S", T(2023, 12, 20)),                       # before the range: not a row of a
        ("a", "S", T(2024, 1, 2, 10)), ("a", "S", T(2024, 1, 2, 8)),  # row Jan 1: t0 = 08:00
        ("a", "R", T(2024, 1, 3, 9)),                       # day 1 of that row
        ("a", "S", T(2024, 1, 9)),                          # row Jan 8: t0 = Jan 9
        ("a", "R", T(2024, 1, 9, 5)),                        # day 0 of row Jan 8 (and day 7 of Jan 1)
        ("b", "S", T(2024, 1, 10)),
    )
    spec = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3, mode="RECURRING")
    rows = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert [(r.start, r.size, cells(r)) for r in rows] == [
        (T(2024, 1, 1), 1, [0, 1, 0]),
        (T(2024, 1, 8), 2, [1, 0, 0]),
    ]
    # FIRST_TIME: a's first S ever is before the range: only b.
    first = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3)
    rows = (await compute_cohort(services.pool, project.id, first, T(2025, 1, 1))).rows
    assert [(r.start, r.size) for r in rows] == [(T(2024, 1, 8), 1)]


async def test_cumulative_counts_bucket_n_or_later(services):
    project = await fresh_project(services, "cohort-cumulative")
    t0 = T(2024, 1, 1, 12)
    await record(
        services, project.id,
        ("a", "S", t0), ("a", "R", t0 + timedelta(days=2, hours=1)),     # bucket 2: cells 0, 1, 2
        ("b", "S", t0), ("b", "R", t0 + timedelta(hours=1)),            # bucket 0 only
        ("c", "S", t0), ("c", "R", t0 + timedelta(days=40)),            # past the last bucket: all cells
        ("d", "S", t0), ("d", "R", t0 - timedelta(hours=1)),            # before t0: none
    )
    spec = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 1, 2), Period.DAY, Period.DAY, 3, cumulative=True)
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert (row.size, cells(row)) == (4, [3, 2, 2])
    assert [c.rate for c in row.cells] == [0.75, 0.5, 0.5]
    plain = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 1, 2), Period.DAY, Period.DAY, 3)
    (row,) = (await compute_cohort(services.pool, project.id, plain, T(2025, 1, 1))).rows
    assert cells(row) == [1, 0, 1]


async def test_population_filters_the_rows(services):
    project = await fresh_project(services, "cohort-population")
    await record(services, project.id, ("a", "S", T(2024, 1, 1)), ("b", "S", T(2024, 1, 1)),
                 ("a", "R", T(2024, 1, 2)), ("b", "Paid", T(2024, 3, 1)))
    await services.ingest.set_properties(project.id, "a", {"plan": "pro"})
    base = dict(cohort_event="S", return_event="R", from_=T(2024, 1, 1), to=T(2024, 2, 1),
                cohort_period=Period.MONTH, bucket=Period.DAY, buckets=2)
    pro = CohortSpec(**base, people=Population(properties=(PropertyFilter("plan", FilterOp.EQ, "pro"),)))
    (row,) = (await compute_cohort(services.pool, project.id, pro, T(2025, 1, 1))).rows
    assert (row.size, cells(row)) == (1, [0, 1])
    paid = CohortSpec(**base, people=Population(did_event="Paid"))
    (row,) = (await compute_cohort(services.pool, project.id, paid, T(2025, 1, 1))).rows
    assert (row.size, cells(row)) == (1, [0, 0])
    late = CohortSpec(**base, people=Population(did_event="Paid", to=T(2024, 2, 1)))
    assert (await compute_cohort(services.pool, project.id, late, T(2025, 1, 1))).rows == ()


def test_cache_key_without_options_is_unchanged():
    spec = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3)
    assert spec.cache_key() == orjson.dumps(
        ["cohort", "S", "R", T(2024, 1, 1).isoformat(), T(2024, 2, 1).isoformat(), "WEEK", "DAY", 3]
    ).decode()
    assert CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3,
                      people=Population()).cache_key() == spec.cache_key()
    keys = {
        spec.cache_key(),
        CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3, mode="RECURRING").cache_key(),
        CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3, cumulative=True).cache_key(),
        CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3,
                   people=Population(did_event="x")).cache_key(),
    }
    assert len(keys) == 4


def test_bad_mode_is_refused():
    with pytest.raises(BadInput) as e:
        CohortSpec("S", "R", T(2024, 1, 1), T(2024, 2, 1), mode="SOMETIMES")
    assert e.value.field == "input.mode"


COHORT_QUERY = """
query($input: CohortInput!) { cohort(input: $input) { rows { start size cells { people } } } }"""


async def test_options_over_graphql(read_client, write_client):
    await write_client("""mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }""", {"e": [
        {"identity": "a", "name": "S", "timestamp": "2024-01-02T10:00:00Z"},
        {"identity": "a", "name": "S", "timestamp": "2024-01-09T10:00:00Z"},
        {"identity": "a", "name": "R", "timestamp": "2024-01-20T10:00:00Z"},
        {"identity": "b", "name": "S", "timestamp": "2024-01-02T10:00:00Z"},
    ]})
    variables = {"input": {"cohortEvent": "S", "returnEvent": "R", "from": "2024-01-01T00:00:00Z",
                           "to": "2024-02-01T00:00:00Z", "cohortPeriod": "WEEK", "bucket": "WEEK", "buckets": 3,
                           "mode": "RECURRING", "cumulative": True, "people": {"didEvent": "R"}}}
    data = (await read_client(COHORT_QUERY, variables))["cohort"]
    assert data["rows"] == [
        {"start": "2024-01-01T00:00:00+00:00", "size": 1, "cells": [{"people": 1}, {"people": 1}, {"people": 1}]},
        {"start": "2024-01-08T00:00:00+00:00", "size": 1, "cells": [{"people": 1}, {"people": 1}, {"people": 0}]},
    ]
    variables["input"]["people"] = {"didEvent": "R", "from": "2024-02-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}
    (err,) = await read_client.errors(COHORT_QUERY, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "input.people.to"
    variables["input"]["people"] = {"properties": [{"key": "plan", "op": "IN", "value": 1}]}
    (err,) = await read_client.errors(COHORT_QUERY, variables)
    assert err["extensions"]["field"] == "input.people.properties[0].value"

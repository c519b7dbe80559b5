"""The cohort report against the oracle (tests/support/reference.py) on random data, and
named edge cases, through ReportService and through GraphQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.cohort import CohortSpec, compute_cohort
from app.reports.periods import Period
from app.reports.population import Population

from tests.support.reference import cohort as reference_cohort
from tests.support.scenarios import (
    NAMES, PERIODS, T, as_dicts, fresh_project, oracle_inputs, ops_st, play, range_st,
)

EXAMPLES = {"run": 0, "with_returns": 0}


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
    queries=st.integers(1, 3),
)
async def test_cohort_matches_reference(services, ops, cohort_event, return_event, rng, cohort_period, bucket,
                                        buckets, queries):
    EXAMPLES["run"] += 1
    project = await fresh_project(services, "cohort-prop")
    await play(services, project.id, ops)
    events, _ = await oracle_inputs(services.pool, project.id)
    spec = CohortSpec(cohort_event, return_event, rng[0], rng[1], Period(cohort_period), Period(bucket), buckets)
    report = await services.reports.cohort(project.id, spec)
    expected = reference_cohort(events, cohort_event, return_event, rng[0], rng[1], cohort_period, bucket, buckets,
                                report.computed_at)
    assert as_dicts(report.value) == expected
    if any(c["people"] for row in expected for c in row["cells"]):
        EXAMPLES["with_returns"] += 1
    # Complete flags against a computedAt inside the data (some cells incomplete).
    for at in (T(2024, 1, 20), T(2024, 3, 1))[:queries]:
        got = await compute_cohort(services.pool, project.id, spec, at)
        assert as_dicts(got) == reference_cohort(events, cohort_event, return_event, rng[0], rng[1],
                                                 cohort_period, bucket, buckets, at)


def test_cohort_property_test_ran_examples():
    # Runs after the property test in file order: it really ran examples.
    assert EXAMPLES["run"] >= 10, EXAMPLES
    assert EXAMPLES["with_returns"] >= 3, EXAMPLES  # the data is not all trivially empty


# ---------------------------------------------------------------- named cases


async def record(services, project_id, *events: tuple[str, str, datetime]) -> None:
    await services.ingest.record_events(project_id, [EventIn(i, n, {}, t) for i, n, t in events])


async def test_empty_range_has_no_rows(services):
    project = await fresh_project(services, "cohort-empty")
    await record(services, project.id, ("a", "Signed Up", T(2024, 1, 3)))
    spec = CohortSpec("Signed Up", "Signed Up", T(2024, 1, 3), T(2024, 1, 3), Period.DAY, Period.DAY, 3)
    assert (await services.reports.cohort(project.id, spec)).value.rows == ()


async def test_first_time_ever_not_first_in_range(services):
    project = await fresh_project(services, "cohort-ever")
    await record(services, project.id,
                 ("old", "Signed Up", T(2023, 12, 20)), ("old", "Signed Up", T(2024, 1, 3)),
                 ("new", "Signed Up", T(2024, 1, 3, 5)), ("new", "Login", T(2024, 1, 4, 6)))
    spec = CohortSpec("Signed Up", "Login", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3)
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2024, 6, 1))).rows
    assert row.start == T(2024, 1, 1) and row.size == 1  # "old" started in December
    assert [c.people for c in row.cells] == [0, 1, 0]


async def test_incomplete_bucket_and_same_event(services):
    project = await fresh_project(services, "cohort-incomplete")
    # Week of Monday 2024-01-01; t0 = Wednesday 10:00.
    await record(services, project.id, ("a", "Visit", T(2024, 1, 3, 10)), ("a", "Visit", T(2024, 1, 10, 10)))
    spec = CohortSpec("Visit", "Visit", T(2024, 1, 1), T(2024, 1, 8), Period.WEEK, Period.WEEK, 3)
    # Row ends 2024-01-08; cell n is complete when 2024-01-08 + (n+1) weeks <= computedAt.
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2024, 1, 22))).rows
    assert [c.people for c in row.cells] == [1, 1, 0]  # the first event itself is in cell 0
    assert [c.complete for c in row.cells] == [True, True, False]
    assert [c.rate for c in row.cells] == [1.0, 1.0, 0.0]


async def test_bucket_boundaries_are_half_open_and_month_is_30_days(services):
    project = await fresh_project(services, "cohort-bounds")
    t0 = T(2024, 1, 31, 12)
    await record(services, project.id, ("a", "Signed Up", t0),
                 ("a", "Paid", t0 + timedelta(days=30)),  # exactly B later: cell 1, not 0
                 ("b", "Signed Up", t0), ("b", "Paid", t0 + timedelta(days=30) - timedelta(microseconds=1)))
    spec = CohortSpec("Signed Up", "Paid", T(2024, 1, 1), T(2024, 2, 1), Period.MONTH, Period.MONTH, 2)
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert row.start == T(2024, 1, 1) and row.size == 2
    assert [c.people for c in row.cells] == [1, 1]


async def test_month_rows_split_at_calendar_month(services):
    project = await fresh_project(services, "cohort-months")
    await record(services, project.id, ("a", "S", T(2024, 1, 31, 23, 59, 59)), ("b", "S", T(2024, 2, 1)),
                 ("c", "S", T(2024, 2, 29, 23)), ("d", "S", T(2024, 3, 1)))
    spec = CohortSpec("S", "S", T(2024, 1, 1), T(2024, 3, 1), Period.MONTH, Period.DAY, 1)
    rows = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert [(r.start, r.size) for r in rows] == [(T(2024, 1, 1), 1), (T(2024, 2, 1), 2)]


async def test_person_merged_after_their_events(services):
    project = await fresh_project(services, "cohort-merge")
    # The anonymous visitor signs up; later the user logs in under their own id.
    await record(services, project.id, ("anon-1", "Signed Up", T(2024, 1, 2)), ("user-1", "Login", T(2024, 1, 3)))
    spec = CohortSpec("Signed Up", "Login", T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, Period.DAY, 3)
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert [c.people for c in row.cells] == [0, 0, 0]
    await services.ingest.identify(project.id, "anon-1", "user-1")
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    assert row.size == 1 and [c.people for c in row.cells] == [0, 1, 0]


async def test_utc_regardless_of_offsets_and_session_time_zone(services):
    project = await fresh_project(services, "cohort-utc")
    await record(services, project.id, ("a", "S", T(2024, 3, 31, 23, 30)))  # 01:30 next day in Paris (DST day)
    from datetime import timezone
    paris = timezone(timedelta(hours=2))
    spec = CohortSpec("S", "S", datetime(2024, 3, 31, 0, 0, tzinfo=paris), datetime(2024, 4, 2, tzinfo=paris),
                      Period.DAY, Period.HOUR, 2)
    async with services.pool.acquire() as conn:
        await conn.execute("SET TimeZone = 'Europe/Paris'")
        try:
            (row,) = (await compute_cohort(conn, project.id, spec, T(2025, 1, 1))).rows
        finally:
            await conn.execute("RESET TimeZone")
    assert row.start == T(2024, 3, 31) and row.start.tzinfo is not None
    assert spec.cache_key() == CohortSpec("S", "S", T(2024, 3, 30, 22), T(2024, 4, 1, 22), Period.DAY,
                                          Period.HOUR, 2).cache_key()


@pytest.mark.parametrize("buckets", [0, 121, -1])
def test_bucket_count_is_validated(buckets):
    with pytest.raises(BadInput) as err:
        CohortSpec("a", "b", T(2024, 1, 1), T(2024, 2, 1), buckets=buckets)
    assert err.value.field == "input.buckets"


@pytest.mark.parametrize("cohort_event, return_event, field", [
    ("Signed\x00Up", "b", "input.cohortEvent"), ("a", "\x00", "input.returnEvent")])
def test_a_nul_in_an_event_name_is_refused_with_its_field(cohort_event, return_event, field):
    with pytest.raises(BadInput) as err:
        CohortSpec(cohort_event, return_event, T(2024, 1, 1), T(2024, 2, 1))
    assert err.value.field == field


def test_reversed_range_is_refused():
    with pytest.raises(BadInput) as err:
        CohortSpec("a", "b", T(2024, 2, 1), T(2024, 1, 1))
    assert err.value.field == "input.to"


# ---------------------------------------------------------------- GraphQL

COHORT_QUERY = """
query($input: CohortInput!) {
  cohort(input: $input) { computedAt cached rows { start size cells { index people rate complete } } }
}"""


async def test_cohort_over_graphql(read_client, write_client, project):
    await write_client("""mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }""", {"e": [
        {"identity": "a", "name": "Signed Up", "timestamp": "2024-01-02T10:00:00Z"},
        {"identity": "a", "name": "Login", "timestamp": "2024-01-03T11:00:00Z"},
        {"identity": "b", "name": "Signed Up", "timestamp": "2024-01-09T10:00:00+02:00"},
    ]})
    variables = {"input": {"cohortEvent": "Signed Up", "returnEvent": "Login", "from": "2024-01-01T00:00:00Z",
                           "to": "2024-02-01T00:00:00Z", "cohortPeriod": "WEEK", "bucket": "DAY", "buckets": 3}}
    data = (await read_client(COHORT_QUERY, variables))["cohort"]
    assert data["cached"] is False
    assert data["rows"] == [
        {"start": "2024-01-01T00:00:00+00:00", "size": 1, "cells": [
            {"index": 0, "people": 0, "rate": 0.0, "complete": True},
            {"index": 1, "people": 1, "rate": 1.0, "complete": True},
            {"index": 2, "people": 0, "rate": 0.0, "complete": True}]},
        {"start": "2024-01-08T00:00:00+00:00", "size": 1, "cells": [
            {"index": i, "people": 0, "rate": 0.0, "complete": True} for i in range(3)]},
    ]
    again = (await read_client(COHORT_QUERY, variables))["cohort"]
    assert again["cached"] is True and again["computedAt"] == data["computedAt"]


async def test_cohort_needs_read_key_and_valid_buckets(read_client, write_client):
    variables = {"input": {"cohortEvent": "a", "returnEvent": "b", "from": "2024-01-01T00:00:00Z",
                           "to": "2024-02-01T00:00:00Z"}}
    (err,) = await write_client.errors(COHORT_QUERY, variables)
    assert err["extensions"]["code"] == "FORBIDDEN"
    variables["input"]["buckets"] = 500
    (err,) = await read_client.errors(COHORT_QUERY, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "input.buckets"


@pytest.mark.parametrize("buckets", [63, 64, 65, 120])
async def test_cells_beyond_one_bit_mask(services, buckets):
    # Cells are folded into 64-bit masks per member (app/reports/cohort.py):
    # cells 63, 64, 65 and the last sit on both sides of a mask boundary.
    project = await fresh_project(services, f"cohort-masks-{buckets}")
    t0 = T(2024, 1, 1, 0, 30)
    cells = [n for n in (0, 1, 62, 63, 64, 65, 119, 120) if n < buckets]
    await record(services, project.id, ("a", "S", t0), ("b", "S", t0 + timedelta(minutes=5)),
                 *(("a", "R", t0 + timedelta(hours=n, minutes=59)) for n in cells),
                 ("b", "R", t0 + timedelta(hours=buckets - 1, minutes=30)),
                 ("b", "R", t0 + timedelta(hours=buckets)))  # past the last cell: not counted
    spec = CohortSpec("S", "R", T(2024, 1, 1), T(2024, 1, 2), Period.DAY, Period.HOUR, buckets)
    (row,) = (await compute_cohort(services.pool, project.id, spec, T(2025, 1, 1))).rows
    expected = [(n in cells) + (n == buckets - 1) for n in range(buckets)]
    assert row.size == 2 and [c.people for c in row.cells] == expected
    events, _ = await oracle_inputs(services.pool, project.id)
    got = await compute_cohort(services.pool, project.id, spec, T(2024, 1, 3))
    assert as_dicts(got) == reference_cohort(events, "S", "R", T(2024, 1, 1), T(2024, 1, 2), "DAY", "HOUR",
                                             buckets, T(2024, 1, 3))


# ---------------------------------------------------------------- per shard (Citus)


async def test_the_per_shard_statement_answers_as_the_plain_one(services):
    """build_per_shard (what Citus runs, per shard) against build, on the
    database at hand (plain PostgreSQL runs both as they are; a cluster runs
    build's through the coordinator's path): every mode, one and two masks,
    with and without a people filter."""
    from app.reports.cohort.statement import build, build_per_shard
    from app.storage import cluster

    project = await fresh_project(services, "cohort-shard")
    events = []
    for p in range(12):
        start = T(2024, 1, 1) + timedelta(hours=13 * p)
        events.append((f"p{p}", "Signed Up", start))
        if p % 3:
            events.append((f"p{p}", "Signed Up", start + timedelta(days=9)))
        for k in range(p % 5):
            events.append((f"p{p}", "Logged In", start + timedelta(hours=7 * k * p + 1)))
    await record(services, project.id, *events)
    specs = [CohortSpec("Signed Up", "Logged In", T(2024, 1, 1), T(2024, 2, 1), Period(cp), Period(b), n,
                        mode=mode, cumulative=cumulative, people=people)
             for cp, b, n in (("WEEK", "DAY", 7), ("DAY", "HOUR", 65))
             for mode in ("FIRST_TIME", "RECURRING") for cumulative in (False, True)
             # a people filter: its population pushed down with the rest
             for people in (None, Population(did_event="Logged In", to=T(2024, 1, 4)))]
    nonempty = 0
    for spec in specs:
        sql, params = build(project.id, spec)
        plain = [tuple(r) for r in await cluster.reads(services.pool).fetch(sql, *params)]
        shard_sql, shard_params = build_per_shard(project.id, spec)
        assert shard_params == params
        per_shard = [tuple(r) for r in await services.pool.fetch(shard_sql, *shard_params)]
        assert per_shard == plain, spec
        if cluster.on_citus(services.pool):
            # Pushed down whole: tasks on the shards, no subplan pulled to the coordinator.
            plan = "\n".join(r[0] for r in await services.pool.fetch("EXPLAIN " + shard_sql, *shard_params))
            assert "Task Count:" in plan and "Subplan" not in plan, plan
        nonempty += any(any(r[2]) for r in plain)
    assert nonempty == len(specs)  # every spec counted someone in some cell

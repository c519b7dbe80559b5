"""The revenue report against the oracle (tests/support/reference.py) on random data, and
named edge cases, through ReportService and through GraphQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.periods import Period
from app.reports.revenue import RevenueSpec, compute_revenue

from tests.support.reference import revenue as reference_revenue
from tests.support.revenue_answers import all_top_people, as_dict, exact
from tests.support.scenarios import (
    PERIODS, SOURCE_KEY, T, fresh_project, oracle_inputs, ops_st, play, range_st,
)

EXAMPLES = {"run": 0, "with_revenue": 0, "with_sources": 0}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(ops=ops_st, rng=range_st(), interval=st.sampled_from(PERIODS), page_size=st.integers(1, 4),
       source_property=st.sampled_from([SOURCE_KEY, SOURCE_KEY, "plan"]))
async def test_revenue_matches_reference(services, parts, ops, rng, interval, page_size, source_property):
    EXAMPLES["run"] += 1
    project = await fresh_project(services, "revenue-prop")
    await play(services, project.id, ops)
    events, propsets = await oracle_inputs(services.pool, project.id)
    spec = RevenueSpec(rng[0], rng[1], Period(interval), source_property)
    split = services.reports.split_computations["revenue"]
    report = await services.reports.revenue(project.id, spec)
    assert services.reports.split_computations["revenue"] - split == (parts > 1)
    top = await all_top_people(services, project.id, spec, page_size)
    expected = reference_revenue(events, propsets, rng[0], rng[1], interval, source_property)
    expected["topPeople"] = [(pid, rev) for pid, rev in expected["topPeople"]]
    got = as_dict(report.value, top)
    assert exact(got) == exact(expected)
    assert report.value.people_with_revenue == len(expected["topPeople"])
    if expected["topPeople"]:
        EXAMPLES["with_revenue"] += 1
    if any(s["value"] is not None for s in expected["bySource"]):
        EXAMPLES["with_sources"] += 1


def test_revenue_property_test_ran_examples():
    assert EXAMPLES["run"] >= 10, EXAMPLES
    assert EXAMPLES["with_revenue"] >= 5 and EXAMPLES["with_sources"] >= 2, EXAMPLES


# ---------------------------------------------------------------- named cases


async def record(services, project_id, *events) -> None:
    await services.ingest.record_events(
        project_id, [EventIn(e[0], e[1], e[2] if len(e) > 2 else {}, e[3] if len(e) > 3 else T(2024, 1, 10))
                     for e in events]
    )


async def test_empty_range(services):
    project = await fresh_project(services, "revenue-empty")
    await record(services, project.id, ("a", "Billed", {"Revenue": 10}, T(2024, 1, 10)))
    r = (await services.reports.revenue(project.id, RevenueSpec(T(2024, 1, 10), T(2024, 1, 10), Period.DAY))).value
    assert (r.money.total, r.money.gross, r.money.refunds, r.money.paying_people) == (0, 0, 0, 0)
    assert str(r.money.average_revenue_per_paying_person) == "0.00"
    assert r.series == () and r.by_source == () and r.people_with_revenue == 0


async def test_refunds_larger_than_purchases(services):
    project = await fresh_project(services, "revenue-refunds")
    await record(services, project.id,
                 ("a", "Billed", {"Revenue": "10.00"}, T(2024, 1, 5)),
                 ("a", "Refunded", {"Revenue": "-25.50"}, T(2024, 1, 6)),
                 ("b", "Refunded", {"Revenue": -4}, T(2024, 1, 7)))
    r = await compute_revenue(services.pool, project.id, RevenueSpec(T(2024, 1, 1), T(2024, 2, 1)))
    assert str(r.money.total) == "-19.50"
    assert str(r.money.gross) == "10.00" and str(r.money.refunds) == "-29.50"
    assert r.money.paying_people == 1 and str(r.money.average_revenue_per_paying_person) == "-19.50"
    assert r.people_with_revenue == 2  # b has only a refund: in topPeople, not paying
    (point,) = r.series
    assert point.start == T(2024, 1, 1) and point.money == r.money
    (slice_,) = r.by_source
    assert slice_.value is None and str(slice_.total) == "-19.50"


async def test_average_rounds_half_up_exactly(services):
    project = await fresh_project(services, "revenue-round")
    # 0.015 / 1 -> 0.02 ; (1 + 0.005) / 2 = 0.5025 -> 0.50 ; -0.025 -> -0.03 (away from zero)
    await record(services, project.id, ("a", "Billed", {"Revenue": "0.015"}, T(2024, 1, 5)),
                 ("b", "Billed", {"Revenue": "1"}, T(2024, 2, 5)), ("c", "Billed", {"Revenue": "0.005"}, T(2024, 2, 6)),
                 ("d", "Billed", {"Revenue": "0.005"}, T(2024, 3, 5)), ("d", "Refund", {"Revenue": "-0.03"}, T(2024, 3, 6)),
                 ("e", "Billed", {"Revenue": "2"}, T(2024, 4, 5)), ("f", "Billed", {"Revenue": "2"}, T(2024, 4, 5)),
                 ("g", "Billed", {"Revenue": "1.01"}, T(2024, 4, 5)))
    r = await compute_revenue(services.pool, project.id, RevenueSpec(T(2024, 1, 1), T(2024, 5, 1)))
    assert [str(p.money.average_revenue_per_paying_person) for p in r.series] == ["0.02", "0.50", "-0.03", "1.67"]


async def test_person_merged_after_their_events(services):
    project = await fresh_project(services, "revenue-merge")
    await services.ingest.set_properties(project.id, "anon-9", {SOURCE_KEY: "newsletter"}, T(2024, 1, 1))
    await record(services, project.id, ("anon-9", "Billed", {"Revenue": 5}, T(2024, 1, 2)),
                 ("user-9", "Visited Site", {SOURCE_KEY: "google"}, T(2024, 1, 3)),
                 ("user-9", "Billed", {"Revenue": 7}, T(2024, 1, 4)))
    spec = RevenueSpec(T(2024, 1, 1), T(2024, 2, 1), Period.MONTH)
    before = await compute_revenue(services.pool, project.id, spec)
    assert before.money.paying_people == 2
    assert [(s.value, s.total) for s in before.by_source] == [("google", 7), ("newsletter", 5)]
    await services.ingest.identify(project.id, "anon-9", "user-9")
    after = await compute_revenue(services.pool, project.id, spec)
    assert after.money.paying_people == 1 and after.people_with_revenue == 1
    # First touch over the merged history: the anonymous property set of Jan 1.
    assert [(s.value, s.total, s.paying_people) for s in after.by_source] == [("newsletter", 12, 1)]


async def test_series_spans_partial_periods_and_month_boundaries(services):
    project = await fresh_project(services, "revenue-series")
    await record(services, project.id, ("a", "Billed", {"Revenue": 1}, T(2024, 1, 31, 23, 59, 59)),
                 ("a", "Billed", {"Revenue": 2}, T(2024, 2, 1)), ("a", "Billed", {"Revenue": 4}, T(2024, 3, 15)),
                 ("a", "Billed", {"Revenue": 8}, T(2024, 1, 15)))  # before `from`: not counted
    r = await compute_revenue(services.pool, project.id, RevenueSpec(T(2024, 1, 20), T(2024, 3, 15)))
    assert [(p.start, p.money.total) for p in r.series] == [
        (T(2024, 1, 1), 1), (T(2024, 2, 1), 2), (T(2024, 3, 1), 0)]
    weekly = await compute_revenue(services.pool, project.id, RevenueSpec(T(2024, 1, 31), T(2024, 2, 6), Period.WEEK))
    assert [(p.start, p.money.total) for p in weekly.series] == [(T(2024, 1, 29), 3), (T(2024, 2, 5), 0)]


async def test_source_tie_prefers_property_set_and_skips_null(services):
    project = await fresh_project(services, "revenue-source")
    at = T(2024, 1, 2)
    await record(services, project.id, ("a", "Ad Campaign Hit", {SOURCE_KEY: None}, at - timedelta(days=1)),
                 ("a", "Ad Campaign Hit", {SOURCE_KEY: "event"}, at), ("a", "Billed", {"Revenue": 1}, at))
    await services.ingest.set_properties(project.id, "a", {SOURCE_KEY: "person"}, at)
    r = await compute_revenue(services.pool, project.id, RevenueSpec(T(2024, 1, 1), T(2024, 2, 1)))
    assert [s.value for s in r.by_source] == ["person"]


def test_validation():
    with pytest.raises(BadInput) as err:
        RevenueSpec(T(2024, 2, 1), T(2024, 1, 1))
    assert err.value.field == "input.to"
    with pytest.raises(BadInput) as err:
        RevenueSpec(T(2020, 1, 1), T(2024, 1, 1), Period.HOUR)
    assert err.value.field == "input.interval"
    with pytest.raises(BadInput) as err:
        RevenueSpec(T(2024, 1, 1), T(2024, 2, 1), source_property="")
    assert err.value.field == "input.sourceProperty"


# ---------------------------------------------------------------- GraphQL

REVENUE_QUERY = """
query($input: RevenueReportInput!, $first: Int!, $after: String) {
  revenueReport(input: $input) {
    total gross refunds payingPeople averageRevenuePerPayingPerson computedAt cached
    series { start total gross refunds payingPeople averageRevenuePerPayingPerson }
    bySource { value total payingPeople averageRevenuePerPayingPerson }
    topPeople(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { revenue person { id identities } }
    }
  }
}"""


async def test_revenue_over_graphql(read_client, write_client):
    await write_client("""mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }""", {"e": [
        {"identity": "ann", "name": "Ad Campaign Hit", "properties": {SOURCE_KEY: "google"},
         "timestamp": "2024-01-01T09:00:00Z"},
        {"identity": "ann", "name": "Billed", "properties": {"Revenue": "99.99"}, "timestamp": "2024-01-02T00:00:00Z"},
        {"identity": "bob", "name": "Billed", "properties": {"Revenue": 10}, "timestamp": "2024-02-02T00:00:00Z"},
        {"identity": "bob", "name": "Refund", "properties": {"Revenue": "-10"}, "timestamp": "2024-02-03T00:00:00Z"},
        {"identity": "cat", "name": "Billed", "properties": {"Revenue": "0.01"}, "timestamp": "2024-02-03T00:00:00Z"},
    ]})
    variables = {"input": {"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "first": 2}
    data = (await read_client(REVENUE_QUERY, variables))["revenueReport"]
    assert (data["total"], data["gross"], data["refunds"]) == ("100.00", "110.00", "-10")
    assert data["payingPeople"] == 3 and data["averageRevenuePerPayingPerson"] == "33.33"
    assert [(p["start"], p["total"]) for p in data["series"]] == [
        ("2024-01-01T00:00:00+00:00", "99.99"), ("2024-02-01T00:00:00+00:00", "0.01")]
    assert [(s["value"], s["total"], s["payingPeople"]) for s in data["bySource"]] == [
        ("google", "99.99", 1), (None, "0.01", 2)]
    top = data["topPeople"]
    assert top["totalCount"] == 3 and top["pageInfo"]["hasNextPage"] is True
    assert [(n["person"]["identities"], n["revenue"]) for n in top["nodes"]] == [(["ann"], "99.99"), (["cat"], "0.01")]
    variables["after"] = top["pageInfo"]["endCursor"]
    rest = (await read_client(REVENUE_QUERY, variables))["revenueReport"]
    assert rest["cached"] is True and rest["computedAt"] == data["computedAt"]
    assert [(n["person"]["identities"], n["revenue"]) for n in rest["topPeople"]["nodes"]] == [(["bob"], "0")]
    assert rest["topPeople"]["pageInfo"]["hasNextPage"] is False


async def test_bad_cursor_and_page_size(read_client):
    variables = {"input": {"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "first": 5,
                 "after": "nonsense"}
    (err,) = await read_client.errors(REVENUE_QUERY, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    variables.update(after=None, first=5000)
    (err,) = await read_client.errors(REVENUE_QUERY, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_nul_in_the_source_property_is_refused_with_its_field():
    with pytest.raises(BadInput) as err:
        RevenueSpec(T(2024, 1, 1), T(2024, 2, 1), Period.MONTH, "Campaign\x00Source")
    assert err.value.field == "input.sourceProperty"

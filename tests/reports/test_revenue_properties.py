"""The revenue report's population filter (DESIGN.md §5, "Population filter")
against the oracle (tests/support/reference.py `revenue(..., people=...)`) on random
worlds: summary, series, bySource and every page of topPeople. Named cases and
the filter over GraphQL at the end. tests/reports/test_revenue.py covers the
report without a filter."""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.validation import EventIn
from app.reports.periods import Period
from app.reports.population import Population
from app.reports.revenue import RevenueSpec
from tests.support.reference import revenue as reference_revenue
from tests.support.populations import oracle_people, population, populations
from tests.support.revenue_answers import all_top_people, as_dict, exact
from tests.support.scenarios import (
    PERIODS, SOURCE_KEY, T, fresh_project, oracle_inputs, ops_st, play, range_st,
)

EXAMPLES = {"run": 0, "filtered": 0}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=ops_st, rng=range_st(), interval=st.sampled_from(PERIODS), page_size=st.integers(1, 4),
       source_property=st.sampled_from([SOURCE_KEY, "plan"]), people=populations().filter(lambda p: p is not None))
async def test_revenue_with_a_population_matches_reference(services, parts, ops, rng, interval, page_size,
                                                           source_property, people):
    EXAMPLES["run"] += 1
    project = await fresh_project(services, "revenue-pop")
    await play(services, project.id, ops)
    events, propsets = await oracle_inputs(services.pool, project.id)
    spec = RevenueSpec(rng[0], rng[1], Period(interval), source_property, people=population(people))
    split = services.reports.split_computations["revenue"]
    report = await services.reports.revenue(project.id, spec)
    assert services.reports.split_computations["revenue"] - split == (parts > 1)
    top = await all_top_people(services, project.id, spec, page_size)
    expected = reference_revenue(events, propsets, rng[0], rng[1], interval, source_property,
                                 people=oracle_people(people))
    assert exact(as_dict(report.value, top)) == exact(expected)
    assert report.value.people_with_revenue == len(expected["topPeople"])
    everyone = reference_revenue(events, propsets, rng[0], rng[1], interval, source_property)
    EXAMPLES["filtered"] += everyone != expected


def test_revenue_population_property_test_ran_examples():
    assert EXAMPLES["run"] >= 10, EXAMPLES
    assert EXAMPLES["filtered"] >= 3, EXAMPLES  # the population changed some answers


async def test_population_in_summary_series_sources_and_top_people(services):
    project = await fresh_project(services, "revenue-pop-named")
    await services.ingest.record_events(project.id, [
        EventIn("a", "Billed", {"Revenue": "10", SOURCE_KEY: "ad"}, T(2024, 1, 10)),
        EventIn("b", "Billed", {"Revenue": "5", SOURCE_KEY: "mail"}, T(2024, 2, 10)),
        EventIn("b", "Signed Up", {}, T(2024, 1, 1)),
    ])
    spec = RevenueSpec(T(2024, 1, 1), T(2024, 3, 1), Period.MONTH, people=Population(did_event="Signed Up"))
    r = (await services.reports.revenue(project.id, spec)).value
    assert (r.money.total, r.money.paying_people, r.people_with_revenue) == (5, 1, 1)
    assert [p.money.total for p in r.series] == [0, 5]
    assert [(s.value, s.total) for s in r.by_source] == [("mail", 5)]
    top = await all_top_people(services, project.id, spec, 10)
    b = (await services.people.by_identity(project.id, "b")).id
    assert [(pid, rev) for pid, rev in top] == [(str(b), 5)]


def test_cache_key_without_a_population_is_unchanged():
    spec = RevenueSpec(T(2024, 1, 1), T(2024, 3, 1), Period.MONTH)
    assert spec.cache_key() == orjson.dumps(
        ["revenue", T(2024, 1, 1).isoformat(), T(2024, 3, 1).isoformat(), "MONTH", SOURCE_KEY]
    ).decode()
    assert RevenueSpec(T(2024, 1, 1), T(2024, 3, 1), people=Population()).cache_key() == spec.cache_key()
    assert RevenueSpec(T(2024, 1, 1), T(2024, 3, 1), people=Population(did_event="x")).cache_key() != spec.cache_key()


REVENUE_QUERY = """
query($input: RevenueReportInput!) { revenueReport(input: $input) {
  total payingPeople topPeople(first: 5) { totalCount nodes { person { identities } revenue } } } }"""


async def test_population_over_graphql(read_client, write_client):
    await write_client("""mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }""", {"e": [
        {"identity": "a", "name": "Billed", "properties": {"Revenue": 10}, "timestamp": "2024-01-02T10:00:00Z"},
        {"identity": "b", "name": "Billed", "properties": {"Revenue": 7}, "timestamp": "2024-01-02T10:00:00Z"},
        {"identity": "b", "name": "Promo", "timestamp": "2024-01-01T10:00:00Z"},
    ]})
    variables = {"input": {"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z",
                           "people": {"didEvent": "Promo"}}}
    data = (await read_client(REVENUE_QUERY, variables))["revenueReport"]
    assert (data["total"], data["payingPeople"], data["topPeople"]["totalCount"]) == ("7", 1, 1)
    variables["input"]["people"] = {"properties": [{"key": "", "op": "EQ", "value": 1}]}
    (err,) = await read_client.errors(REVENUE_QUERY, variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["extensions"]["field"] == "input.people.properties[0].key"

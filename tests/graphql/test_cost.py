"""Query cost (app/graphql/cost.py, docs/api.md): every answer carries
`extensions.cost`; a query above the maximum is refused before it runs."""
from __future__ import annotations

import time
from types import SimpleNamespace

from graphql import parse

from app.config import Settings
from app.graphql.cost import (
    DEFAULT_MAX_COST,
    PLANS,
    REPORT_WEIGHT,
    UNPAGED_LIST_SIZE,
    compile_plan,
    evaluate,
)
from app.graphql.schema import schema
from app.ingest.validation import EventIn

EVENT_FIELDS = "id name personId identity properties revenue timestamp receivedAt"
PERSON_FIELDS = "id identities identified properties firstSeen lastSeen lifetimeRevenue"


def cost(query: str, variables: dict | None = None, operation: str | None = None) -> int:
    return evaluate(compile_plan(schema._schema, parse(query), operation), variables)


def attack_query() -> str:
    """The issue's query: 25 aliases of people(first: 1000) with each person's
    first 1000 events, about 5 KB."""
    one = ("people(first: 1000) { nodes { id identities properties lastSeen "
           "events(first: 1000) { nodes { id name identity properties revenue timestamp receivedAt } "
           "pageInfo { hasNextPage endCursor } } } pageInfo { endCursor } }")
    return "{\n" + "\n".join(f"  all{i}: {one}" for i in range(25)) + "\n}"


# The dashboard's queries: every report, and a page of 50 people with their first 50 events.
PEOPLE_PAGE = f"""query People($first: Int!) {{ people(first: $first) {{ totalCount pageInfo {{ hasNextPage endCursor }}
  nodes {{ {PERSON_FIELDS}
          events(first: 50) {{ nodes {{ {EVENT_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }} }} }}"""
FUNNEL = """query Funnel($from: DateTime!, $to: DateTime!) {
  funnel(input: {steps: [{event: "Signed Up"}, {event: "Paid"}], from: $from, to: $to,
                 segmentBy: {personProperty: "Plan"}}) {
    computedAt cached
    steps { index event people droppedOff conversionFromPrevious conversionFromStart
            timeFromPrevious { count medianSeconds meanSeconds p90Seconds histogram { upToSeconds people } }
            peopleList(first: 50) { totalCount pageInfo { hasNextPage endCursor } nodes { id identities properties } } }
    segments { value conversionRate
               comparison { baseline lift zScore pValue probabilityToBeatBaseline significant }
               steps { index event people droppedOff conversionFromPrevious conversionFromStart } } } }"""
COHORT = """query Cohort($from: DateTime!, $to: DateTime!) {
  cohort(input: {cohortEvent: "Signed Up", returnEvent: "Paid", from: $from, to: $to}) {
    computedAt cached rows { start size cells { index people rate complete } } } }"""
REVENUE = """query Revenue($from: DateTime!, $to: DateTime!) {
  revenueReport(input: {from: $from, to: $to}) {
    total gross refunds payingPeople averageRevenuePerPayingPerson computedAt cached
    series { start total gross refunds payingPeople averageRevenuePerPayingPerson }
    bySource { value total payingPeople averageRevenuePerPayingPerson }
    topPeople(first: 50) { totalCount nodes { revenue person { id identities properties } } } } }"""
RANGE = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}


# ---------------------------------------------------------------- the model


def test_lists_multiply_by_first_and_default_to_the_schema_default():
    assert cost("{ eventNames }") == 1
    # people (1) + nodes (1) + 50 × id (the schema's default `first`)
    assert cost("{ people { nodes { id } } }") == 1 + 1 + 50
    assert cost("{ people(first: 3) { totalCount nodes { id identities } } }") == 1 + 1 + 1 + 3 * 2
    # nested lists multiply: 10 people × (events + nodes + 20 × name)
    assert cost("{ people(first: 10) { nodes { events(first: 20) { nodes { name } } } } }") == 2 + 10 * (2 + 20)
    # a list without `first` counts UNPAGED_LIST_SIZE
    assert cost('{ person(identity: "x") { identities } }') == 2
    assert cost('{ person(identity: "x") { propertyHistory(key: "k") { value at } } }') == 2 + UNPAGED_LIST_SIZE * 2


def test_first_from_variables_their_defaults_and_the_page_limit():
    query = "query($n: Int!) { people(first: $n) { nodes { id } } }"
    assert cost(query, {"n": 7}) == 2 + 7
    assert cost("query($n: Int! = 4) { people(first: $n) { nodes { id } } }") == 2 + 4
    assert cost(query, {}) == 2 + 50  # not sent: the schema's default
    assert cost(query, {"n": 10**9}) == 2 + 1000  # capped: larger pages are refused by the resolver anyway


def test_reports_weigh_more_than_plain_fields():
    assert cost(COHORT, RANGE) == REPORT_WEIGHT + 3 + UNPAGED_LIST_SIZE * (3 + UNPAGED_LIST_SIZE * 4)
    assert cost(REVENUE, RANGE) > REPORT_WEIGHT


def test_fields_merged_as_the_executor_merges_them():
    plain = cost("{ people(first: 10) { nodes { id events(first: 5) { nodes { name } } } } }")
    repeated = """{ people(first: 10) { nodes { id ...P events(first: 5) { nodes { name } } } } }
                   fragment P on Person { id events(first: 5) { nodes { name ...E } } }
                   fragment E on Event { name }"""
    assert cost(repeated) == plain
    # Different aliases are different work.
    assert cost("{ a: eventNames b: eventNames }") == 2


def test_the_operation_named_is_the_one_priced():
    document = "query A { eventNames } query B { people(first: 2) { nodes { id } } }"
    assert cost(document, operation="A") == 1
    assert cost(document, operation="B") == 4


def test_the_issue_query_costs_far_above_the_maximum_and_the_dashboard_far_below():
    text = attack_query()
    assert 4500 <= len(text.encode()) <= 6000  # the issue's "5 KB"
    assert cost(text) > 1000 * DEFAULT_MAX_COST
    for query, variables in ((PEOPLE_PAGE, {"first": 50}), (FUNNEL, RANGE), (COHORT, RANGE), (REVENUE, RANGE)):
        assert cost(query, variables) < DEFAULT_MAX_COST / 2, query


def test_the_maximum_is_configurable(monkeypatch):
    monkeypatch.setenv("WHODID_MAX_QUERY_COST", "1234")
    assert Settings.from_env().max_query_cost == 1234
    monkeypatch.delenv("WHODID_MAX_QUERY_COST")
    assert Settings.from_env().max_query_cost == DEFAULT_MAX_COST


async def test_a_lower_maximum_refuses_before_any_resolver_runs():
    # No database behind these services: a resolver that ran would fail.
    context = SimpleNamespace(services=SimpleNamespace(settings=Settings(max_query_cost=6)),
                              principal=None, request_id="t", cost=None, validated=False)
    result = await schema.execute("{ people(first: 5) { nodes { id } } }", context_value=context)
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["QUERY_TOO_COSTLY"]
    assert result.extensions["cost"] == {"requestedQueryCost": 7, "maxCost": 6}
    assert context.validated is False


# ---------------------------------------------------------------- over HTTP


async def test_every_answer_carries_its_cost(read_client, write_client):
    response = await read_client.raw("{ people(first: 3) { nodes { id } } }")
    assert response.json()["extensions"]["cost"] == {"requestedQueryCost": 5, "maxCost": DEFAULT_MAX_COST}
    mutation = await write_client.raw('mutation { recordEvent(input: {identity: "c", name: "Cost"}) { duplicate } }')
    assert mutation.json()["extensions"]["cost"] == {"requestedQueryCost": 11, "maxCost": DEFAULT_MAX_COST}


async def test_the_issue_query_is_refused_unexecuted(read_client):
    started = time.perf_counter()
    response = await read_client.raw(attack_query())
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    requested = error["extensions"]["cost"]["requestedQueryCost"]
    assert requested > DEFAULT_MAX_COST and error["extensions"]["cost"]["maxCost"] == DEFAULT_MAX_COST
    assert body["extensions"]["cost"] == error["extensions"]["cost"]
    assert str(requested) in error["message"]
    assert elapsed < 1.0, elapsed  # the issue's query ran 12.8 s; refused, it costs a parse and a walk
    assert len(response.content) < 2000


async def test_dashboard_queries_pass(services, project, read_client):
    await services.ingest.record_events(project.id, [
        EventIn(f"u{i}", name, {"Plan": "pro"}) for i in range(3) for name in ("Signed Up", "Paid")])
    for query, variables in ((PEOPLE_PAGE, {"first": 50}), (FUNNEL, RANGE), (COHORT, RANGE), (REVENUE, RANGE)):
        response = await read_client.raw(query, variables)
        body = response.json()
        assert not body.get("errors"), body["errors"]
        assert 0 < body["extensions"]["cost"]["requestedQueryCost"] < DEFAULT_MAX_COST
    data = await read_client(PEOPLE_PAGE, {"first": 50})
    assert data["people"]["totalCount"] == 3


async def test_the_plan_is_compiled_once_per_document_text(read_client):
    query = "query Once($n: Int!) { people(first: $n) { nodes { id } } eventNames }"
    await read_client(query, {"n": 1})
    misses = PLANS.misses
    for n in (2, 3, 4):
        response = await read_client.raw(query, {"n": n})
        assert response.json()["extensions"]["cost"]["requestedQueryCost"] == 3 + n  # priced with the variables
    assert PLANS.misses == misses


async def test_a_subscription_is_priced_and_refused_when_it_starts():
    context = SimpleNamespace(services=SimpleNamespace(settings=Settings(max_query_cost=2)),
                              principal=None, request_id="t", cost=None, validated=False)
    stream = await schema.subscribe("subscription { liveEvents { id name timestamp } }", context_value=context)
    first = await anext(aiter(stream))
    assert [e.extensions["code"] for e in first.errors] == ["QUERY_TOO_COSTLY"]
    assert first.errors[0].extensions["cost"] == {"requestedQueryCost": 4, "maxCost": 2}
    assert not first.extensions  # events never repeat the cost


async def test_graphiql_introspection_stays_cheap(read_client):
    from graphql import get_introspection_query

    response = await read_client.raw(get_introspection_query(descriptions=True))
    body = response.json()
    assert not body.get("errors") and body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1


def test_skip_and_include_count_as_if_included():
    assert cost("query($no: Boolean!) { eventNames people(first: 2) @skip(if: $no) { nodes { id } } }",
                {"no": True}) == 1 + 1 + 1 + 2

"""trends and stickiness over GraphQL on a real server: the answer, people
lists in pages, the cache, the read key, and bad input named by field."""
from __future__ import annotations

import pytest

RECORD = """mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }"""

TRENDS = """query($input: TrendsInput!, $first: Int! = 50, $after: String) {
  trends(input: $input) {
    computedAt cached
    series {
      index event math breakdownValue total
      points { start value peopleList(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id identities } } }
    }
  }
}"""

STICKINESS = """query($input: StickinessInput!, $first: Int! = 50, $after: String) {
  stickiness(input: $input) {
    intervals computedAt cached
    buckets { periods people peopleList(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { identities } } }
  }
}"""

RANGE = {"from": "2024-01-01T00:00:00Z", "to": "2024-01-03T00:00:00Z"}


def ev(identity, name, day, **props):
    return {"identity": identity, "name": name, "properties": props, "timestamp": f"2024-01-0{day}T10:00:00Z"}


@pytest.fixture
async def data(write_client):
    await write_client(RECORD, {"e": [
        ev("ann", "Bought", 1, Items=2, Plan="pro"), ev("ann", "Bought", 2, Items="3"),
        ev("bob", "Bought", 1, Items=5, Plan="free"), ev("cat", "Bought", 2, Plan="pro"),
        ev("dan", "Bought", 4, Items=100),
    ]})


async def test_trends_over_graphql(read_client, data):
    variables = {"input": {**RANGE, "series": [
        {"event": "Bought", "math": "PEOPLE"},
        {"event": "Bought", "math": "SUM", "property": "Items"},
    ]}, "first": 2}
    report = (await read_client(TRENDS, variables))["trends"]
    assert report["cached"] is False
    people, items = report["series"]
    assert (people["index"], people["event"], people["math"], people["breakdownValue"], people["total"]) == (
        0, "Bought", "PEOPLE", None, 3.0)
    assert [(p["start"], p["value"]) for p in people["points"]] == [
        ("2024-01-01T00:00:00+00:00", 2.0), ("2024-01-02T00:00:00+00:00", 2.0)]
    assert (items["math"], items["total"], [p["value"] for p in items["points"]]) == ("SUM", 10.0, [7.0, 3.0])
    # SUM points list nobody; PEOPLE points list their people by id, in pages.
    assert all(p["peopleList"]["totalCount"] == 0 and not p["peopleList"]["nodes"] for p in items["points"])
    day1 = people["points"][0]["peopleList"]
    assert day1["totalCount"] == 2 and not day1["pageInfo"]["hasNextPage"]
    ids = [n["id"] for n in day1["nodes"]]
    assert ids == sorted(ids) and sorted(n["identities"][0] for n in day1["nodes"]) == ["ann", "bob"]
    variables["first"] = 1
    again = (await read_client(TRENDS, variables))["trends"]
    first_page = again["series"][0]["points"][0]["peopleList"]
    assert first_page["pageInfo"]["hasNextPage"] and [n["id"] for n in first_page["nodes"]] == ids[:1]
    variables["after"] = first_page["pageInfo"]["endCursor"]
    later = (await read_client(TRENDS, variables))["trends"]
    assert later["cached"] is True and later["computedAt"] == report["computedAt"]
    assert [n["id"] for n in later["series"][0]["points"][0]["peopleList"]["nodes"]] == ids[1:]


async def test_trends_breakdown_and_people_filter_over_graphql(read_client, data):
    variables = {"input": {**RANGE, "series": [{"event": "Bought"}],
                           "breakdown": {"eventProperty": "Plan", "limit": 1},
                           "people": {"didEvent": "Bought", "from": "2024-01-02T00:00:00Z"}}}
    series = (await read_client(TRENDS, variables))["trends"]["series"]
    # ann and cat bought on the 2nd: ann's 2 events, cat's 1; Plan "pro" twice, missing once.
    assert [(s["breakdownValue"], s["total"]) for s in series] == [("pro", 2.0), (None, 1.0)]


async def test_stickiness_over_graphql(read_client, data):
    variables = {"input": {"event": "Bought", **RANGE}, "first": 1}
    report = (await read_client(STICKINESS, variables))["stickiness"]
    assert report["intervals"] == 2
    assert [(b["periods"], b["people"]) for b in report["buckets"]] == [(1, 2), (2, 1)]
    ones = report["buckets"][0]["peopleList"]
    assert ones["totalCount"] == 2 and ones["pageInfo"]["hasNextPage"]
    assert report["buckets"][1]["peopleList"]["nodes"] == [{"identities": ["ann"]}]
    variables["after"] = ones["pageInfo"]["endCursor"]
    rest = (await read_client(STICKINESS, variables))["stickiness"]
    assert rest["cached"] is True
    names = ones["nodes"] + rest["buckets"][0]["peopleList"]["nodes"]
    assert sorted(n["identities"][0] for n in names) == ["bob", "cat"]


async def test_the_write_key_cannot_read_them(write_client):
    for query, variables in ((TRENDS, {"input": {**RANGE, "series": [{"event": "x"}]}}),
                             (STICKINESS, {"input": {**RANGE, "event": "x"}})):
        (err,) = await write_client.errors(query, variables)
        assert err["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("change, field", [
    ({"series": []}, "input.series"),
    ({"series": [{"event": "x"}] * 11}, "input.series"),
    ({"series": [{"event": "x"}, {"event": "x", "math": "MEDIAN"}]}, "input.series[1].property"),
    ({"series": [{"event": "x", "property": "Items"}]}, "input.series[0].property"),
    ({"series": [{"event": ""}]}, "input.series[0].event"),
    ({"series": [{"event": "x", "where": [{"key": "k", "op": "GT", "value": [1]}]}]}, "input.series[0].where[0].value"),
    ({"to": "2023-01-01T00:00:00Z"}, "input.to"),
    ({"to": "2030-01-01T00:00:00Z", "interval": "HOUR"}, "input.interval"),
    ({"breakdown": {}}, "input.breakdown"),
    ({"breakdown": {"eventProperty": "a", "personProperty": "b"}}, "input.breakdown"),
    ({"breakdown": {"eventProperty": "a", "limit": 0}}, "input.breakdown.limit"),
    ({"people": {"properties": [{"key": ""}]}}, "input.people.properties[0].key"),
    ({"people": {"didEvent": ""}}, "input.people.didEvent"),
])
async def test_trends_bad_input_names_the_field(read_client, change, field):
    (err,) = await read_client.errors(TRENDS, {"input": {**RANGE, "series": [{"event": "x"}], **change}})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, err


@pytest.mark.parametrize("change, field", [
    ({"event": ""}, "input.event"),
    ({"where": [{"key": ""}]}, "input.where[0].key"),
    ({"to": "2023-01-01T00:00:00Z"}, "input.to"),
    ({"to": "2030-01-01T00:00:00Z", "interval": "HOUR"}, "input.interval"),
    ({"people": {"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}}, "input.people.to"),
])
async def test_stickiness_bad_input_names_the_field(read_client, change, field):
    (err,) = await read_client.errors(STICKINESS, {"input": {**RANGE, "event": "x", **change}})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, err


# Only the count of each list: a page size over the limit is then refused by
# the list itself, not by the query's cost (app/graphql/cost.py), which
# prices a page of 5,000 people on every point far above the maximum.
TRENDS_COUNTS = """query($input: TrendsInput!, $first: Int!) {
  trends(input: $input) { series { points { peopleList(first: $first) { totalCount } } } } }"""
STICKINESS_COUNTS = """query($input: StickinessInput!, $first: Int!) {
  stickiness(input: $input) { buckets { peopleList(first: $first) { totalCount } } } }"""


async def test_bad_cursor_and_page_size(read_client, data):
    for query, counts, input_ in (
        (TRENDS, TRENDS_COUNTS, {**RANGE, "series": [{"event": "Bought", "math": "PEOPLE"}]}),
        (STICKINESS, STICKINESS_COUNTS, {**RANGE, "event": "Bought"}),
    ):
        errors = await read_client.errors(query, {"input": input_, "after": "nonsense"})
        assert {e["extensions"]["field"] for e in errors} == {"after"}
        errors = await read_client.errors(counts, {"input": input_, "first": 5000})
        assert {e["extensions"]["field"] for e in errors} == {"first"}

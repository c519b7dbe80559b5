"""lifecycle and paths over GraphQL on a real server: the answers, people lists
in pages (by person id), the cache, the read key, and bad input named by field."""
from __future__ import annotations

import pytest

RECORD = """mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted } }"""

LIFECYCLE = """query($input: LifecycleInput!, $status: LifecycleStatus! = NEW, $first: Int! = 50, $after: String) {
  lifecycle(input: $input) {
    computedAt cached
    points { start new returning resurrecting dormant
      peopleList(status: $status, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id identities } } }
  }
}"""

PATHS = """query($input: PathsInput!, $first: Int! = 50, $after: String) {
  paths(input: $input) {
    computedAt cached
    nodes { step event people peopleList(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { id identities } } }
    links { fromStep source target people }
  }
}"""

DAYS = {"from": "2024-01-03T00:00:00Z", "to": "2024-01-06T00:00:00Z"}
RANGE = {"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"}


def on(identity, name, day, minute=0, **props):
    return {"identity": identity, "name": name, "properties": props,
            "timestamp": f"2024-01-{day:02d}T10:{minute:02d}:00Z"}


@pytest.fixture
async def used(write_client):
    """ann: 1, 3, 4 (resurrecting on the 3rd); bob: 2, 3; cat: 4 (new) and 6
    (after `to`); dan: 2 only (dormant on the 3rd)."""
    await write_client(RECORD, {"e": [
        on("ann", "Used", 1), on("ann", "Used", 3), on("ann", "Used", 4), on("ann", "Paid", 1),
        on("bob", "Used", 2), on("bob", "Used", 3), on("bob", "Used", 3, 5),
        on("cat", "Used", 4), on("cat", "Used", 6),
        on("dan", "Used", 2), on("dan", "Paid", 2),
    ]})


async def test_lifecycle_over_graphql(read_client, used):
    variables = {"input": {"event": "Used", **DAYS}, "status": "DORMANT", "first": 1}
    report = (await read_client(LIFECYCLE, variables))["lifecycle"]
    assert report["cached"] is False
    assert [(p["start"], p["new"], p["returning"], p["resurrecting"], p["dormant"]) for p in report["points"]] == [
        ("2024-01-03T00:00:00+00:00", 0, 1, 1, 1),
        ("2024-01-04T00:00:00+00:00", 1, 1, 0, 1),
        ("2024-01-05T00:00:00+00:00", 0, 0, 0, 2),
    ]
    day5 = report["points"][2]["peopleList"]
    assert day5["totalCount"] == 2 and day5["pageInfo"]["hasNextPage"] and len(day5["nodes"]) == 1
    variables["after"] = day5["pageInfo"]["endCursor"]
    later = (await read_client(LIFECYCLE, variables))["lifecycle"]
    assert later["cached"] is True and later["computedAt"] == report["computedAt"]
    rest = later["points"][2]["peopleList"]
    assert not rest["pageInfo"]["hasNextPage"]
    both = day5["nodes"] + rest["nodes"]
    assert [n["id"] for n in both] == sorted(n["id"] for n in both)
    assert sorted(n["identities"][0] for n in both) == ["ann", "cat"]
    for status, who in (("NEW", [[], ["cat"], []]), ("RESURRECTING", [["ann"], [], []]),
                        ("RETURNING", [["bob"], ["ann"], []])):
        points = (await read_client(LIFECYCLE, {"input": {"event": "Used", **DAYS}, "status": status}))["lifecycle"]
        assert [[n["identities"][0] for n in p["peopleList"]["nodes"]] for p in points["points"]] == who, status


async def test_lifecycle_people_filter_and_week(read_client, used):
    variables = {"input": {"event": "Used", **DAYS, "people": {"didEvent": "Paid"}}, "status": "DORMANT"}
    points = (await read_client(LIFECYCLE, variables))["lifecycle"]["points"]
    # ann and dan only: ann resurrecting on the 3rd, returning on the 4th, dormant on the 5th.
    assert [(p["new"], p["returning"], p["resurrecting"], p["dormant"]) for p in points] == [
        (0, 0, 1, 1), (0, 1, 0, 0), (0, 0, 0, 1)]
    assert [[n["identities"][0] for n in p["peopleList"]["nodes"]] for p in points] == [["dan"], [], ["ann"]]
    week = {"input": {"event": "Used", "from": "2024-01-03T00:00:00Z", "to": "2024-01-20T00:00:00Z",
                      "interval": "WEEK"}}
    points = (await read_client(LIFECYCLE, week))["lifecycle"]["points"]
    # Weeks from Monday: Jan 1 (everyone, first ever: new), Jan 8 (all dormant), Jan 15 (nothing).
    assert [(p["start"], p["new"], p["returning"], p["resurrecting"], p["dormant"]) for p in points] == [
        ("2024-01-01T00:00:00+00:00", 4, 0, 0, 0),
        ("2024-01-08T00:00:00+00:00", 0, 0, 0, 4),
        ("2024-01-15T00:00:00+00:00", 0, 0, 0, 0),
    ]


@pytest.fixture
async def journeys(write_client):
    await write_client(RECORD, {"e": [
        on("ann", "Home", 1, 0), on("ann", "Search", 1, 1), on("ann", "Search", 1, 2), on("ann", "View", 1, 3),
        on("ann", "Buy", 1, 4),
        on("bob", "Home", 1, 0), on("bob", "View", 1, 1), on("bob", "Buy", 1, 2),
        on("cat", "Search", 1, 0), on("cat", "Home", 1, 1), on("cat", "Search", 1, 2),
    ]})


async def test_paths_from_a_start_over_graphql(read_client, journeys):
    variables = {"input": {"startEvent": "Home", **RANGE, "depth": 2, "limit": 1}, "first": 1}
    report = (await read_client(PATHS, variables))["paths"]
    assert [(n["step"], n["event"], n["people"]) for n in report["nodes"]] == [
        (0, "Home", 3), (1, "Search", 2), (1, None, 1), (2, "Buy", 1), (2, None, 1)]
    assert [(x["fromStep"], x["source"], x["target"], x["people"]) for x in report["links"]] == [
        (0, "Home", "Search", 2), (0, "Home", None, 1), (1, "Search", None, 1), (1, None, "Buy", 1)]
    home = report["nodes"][0]["peopleList"]
    assert home["totalCount"] == 3 and home["pageInfo"]["hasNextPage"]
    seen = list(home["nodes"])
    while home["pageInfo"]["hasNextPage"]:
        variables["after"] = home["pageInfo"]["endCursor"]
        again = (await read_client(PATHS, variables))["paths"]
        assert again["cached"] is True
        home = again["nodes"][0]["peopleList"]
        seen += home["nodes"]
    assert [n["id"] for n in seen] == sorted(n["id"] for n in seen)
    assert sorted(n["identities"][0] for n in seen) == ["ann", "bob", "cat"]
    folded = (await read_client(PATHS, {"input": variables["input"]}))["paths"]["nodes"][2]["peopleList"]
    assert [n["identities"] for n in folded["nodes"]] == [["bob"]]


async def test_paths_to_an_end_over_graphql(read_client, journeys):
    report = (await read_client(PATHS, {"input": {"endEvent": "Buy", **RANGE, "depth": 2}}))["paths"]
    assert [(n["step"], n["event"], n["people"]) for n in report["nodes"]] == [
        (-2, "Home", 1), (-2, "Search", 1), (-1, "View", 2), (0, "Buy", 2)]
    # Links in time order: from -2 to -1, from -1 to 0.
    assert [(x["fromStep"], x["source"], x["target"], x["people"]) for x in report["links"]] == [
        (-2, "Home", "View", 1), (-2, "Search", "View", 1), (-1, "View", "Buy", 2)]
    filtered = {"input": {"endEvent": "Buy", **RANGE, "people": {"properties": [{"key": "k", "op": "EXISTS"}]}}}
    nobody = (await read_client(PATHS, filtered))["paths"]
    assert (nobody["nodes"], nobody["links"]) == ([], [])


async def test_the_write_key_cannot_read_them(write_client):
    for query, variables in ((LIFECYCLE, {"input": {**DAYS, "event": "x"}}),
                             (PATHS, {"input": {**RANGE, "startEvent": "x"}})):
        (err,) = await write_client.errors(query, variables)
        assert err["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("change, field", [
    ({"event": ""}, "input.event"),
    ({"event": "x" * 256}, "input.event"),
    ({"where": [{"key": ""}]}, "input.where[0].key"),
    ({"where": [{"key": "k", "op": "IN", "value": 1}]}, "input.where[0].value"),
    ({"to": "2023-01-01T00:00:00Z"}, "input.to"),
    ({"from": "2000-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", "interval": "HOUR"}, "input.interval"),
    ({"from": "2000-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "input.interval"),
    ({"people": {"didEvent": ""}}, "input.people.didEvent"),
    ({"people": {"properties": [{"key": "k", "op": "GT", "value": [1]}]}}, "input.people.properties[0].value"),
])
async def test_lifecycle_bad_input_names_the_field(read_client, change, field):
    (err,) = await read_client.errors(LIFECYCLE, {"input": {**DAYS, "event": "x", **change}})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, err


@pytest.mark.parametrize("change, field", [
    ({"startEvent": None}, "input.startEvent"),
    ({"endEvent": "y"}, "input.endEvent"),
    ({"startEvent": ""}, "input.startEvent"),
    ({"startEvent": None, "endEvent": "y" * 256}, "input.endEvent"),
    ({"depth": 0}, "input.depth"),
    ({"depth": 11}, "input.depth"),
    ({"limit": 0}, "input.limit"),
    ({"limit": 51}, "input.limit"),
    ({"to": "2023-01-01T00:00:00Z"}, "input.to"),
    ({"people": {"didEvent": "x" * 256}}, "input.people.didEvent"),
])
async def test_paths_bad_input_names_the_field(read_client, change, field):
    (err,) = await read_client.errors(PATHS, {"input": {**RANGE, "startEvent": "x", **change}})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, err


async def test_bad_cursor_and_page_size(read_client, used, journeys):
    for query, input_ in ((LIFECYCLE, {**DAYS, "event": "Used"}), (PATHS, {**RANGE, "startEvent": "Home"})):
        errors = await read_client.errors(query, {"input": input_, "after": "nonsense"})
        assert {e["extensions"]["field"] for e in errors} == {"after"}
        errors = await read_client.errors(query, {"input": input_, "first": 5000})
        assert {e["extensions"]["field"] for e in errors} == {"first"}

"""People and event reads: filters, cursor pagination, stable order."""
from __future__ import annotations

from app.ingest.validation import EventIn

PEOPLE = """query($where: PeopleFilter, $first: Int!, $after: String) {
  people(where: $where, first: $first, after: $after) { totalCount nodes { identities properties }
  pageInfo { hasNextPage endCursor } } }"""
EVENTS = """query($where: EventFilter, $first: Int!, $after: String) {
  events(where: $where, first: $first, after: $after) { nodes { name identity properties timestamp }
  pageInfo { hasNextPage endCursor } } }"""


async def seed(services, project):
    for i in range(7):
        await services.ingest.set_properties(project.id, f"user-{i}", {"Plan": "pro" if i % 2 else "free", "Seats": i, "Note": f"n{i}"})
    await services.ingest.record_events(project.id, [
        EventIn(f"user-{i}", "Signed Up", {"Source": "ads" if i < 3 else "seo"},
                timestamp=ts(f"2026-01-0{i + 1}T00:00:00+00:00")) for i in range(7)
    ])


def ts(value):
    from datetime import datetime
    return datetime.fromisoformat(value)


async def all_pages(client, query, variables, key, first):
    seen, after = [], None
    while True:
        data = (await client(query, {**variables, "first": first, "after": after}))[key]
        seen += data["nodes"]
        if not data["pageInfo"]["hasNextPage"]:
            return seen
        after = data["pageInfo"]["endCursor"]


async def test_people_pages_cover_everyone_once(services, project, read_client):
    await seed(services, project)
    paged = await all_pages(read_client, PEOPLE, {}, "people", 3)
    whole = (await read_client(PEOPLE, {"first": 100}))["people"]
    assert whole["totalCount"] == 7
    assert [p["identities"] for p in paged] == [p["identities"] for p in whole["nodes"]]
    assert sorted(p["identities"][0] for p in paged) == [f"user-{i}" for i in range(7)]


async def test_people_filters(services, project, read_client):
    await seed(services, project)

    async def ids(where):
        data = (await read_client(PEOPLE, {"where": where, "first": 100}))["people"]
        assert data["totalCount"] == len(data["nodes"])
        return sorted(p["identities"][0] for p in data["nodes"])

    assert await ids({"properties": [{"key": "Plan", "value": "pro"}]}) == ["user-1", "user-3", "user-5"]
    assert await ids({"properties": [{"key": "Plan", "op": "NEQ", "value": "pro"}, {"key": "Seats", "op": "GTE", "value": 4}]}) == ["user-4", "user-6"]
    assert await ids({"properties": [{"key": "Seats", "op": "LT", "value": "2"}]}) == ["user-0", "user-1"]
    assert await ids({"properties": [{"key": "Seats", "op": "IN", "value": [1, "2", 9]}]}) == ["user-1", "user-2"]
    assert await ids({"properties": [{"key": "Note", "op": "STARTS_WITH", "value": "n6"}]}) == ["user-6"]
    assert await ids({"properties": [{"key": "Note", "op": "CONTAINS", "value": "5"}]}) == ["user-5"]
    assert await ids({"properties": [{"key": "Missing", "op": "NOT_EXISTS"}, {"key": "Seats", "op": "EQ", "value": "0"}]}) == ["user-0"]
    assert await ids({"properties": [{"key": "Missing", "op": "EXISTS"}]}) == []
    assert await ids({"didEvent": "Signed Up", "from": "2026-01-02T00:00:00Z", "to": "2026-01-04T00:00:00Z"}) == ["user-1", "user-2"]
    assert await ids({"didEvent": "Nothing"}) == []


async def test_bad_filter_values_are_refused(read_client):
    errors = await read_client.errors(PEOPLE, {"where": {"properties": [{"key": "k", "op": "IN", "value": "x"}]}, "first": 5})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "where.properties[0].value"}
    errors = await read_client.errors(PEOPLE, {"first": 1001})
    assert errors[0]["extensions"]["field"] == "first"
    errors = await read_client.errors(PEOPLE, {"first": 5, "after": "garbage!"})
    assert errors[0]["extensions"]["field"] == "after"


async def test_events_newest_first_with_filters_and_pages(services, project, read_client):
    await seed(services, project)
    await services.ingest.record_event(project.id, EventIn("user-1", "Logged In", {"Device": "ios"},
                                                           timestamp=ts("2026-01-03T00:00:00+00:00")))
    paged = await all_pages(read_client, EVENTS, {}, "events", 2)
    assert len(paged) == 8
    stamps = [e["timestamp"] for e in paged]
    assert stamps == sorted(stamps, reverse=True)
    ads = (await read_client(EVENTS, {"where": {"properties": [{"key": "Source", "value": "ads"}]}, "first": 50}))
    assert sorted(e["identity"] for e in ads["events"]["nodes"]) == ["user-0", "user-1", "user-2"]
    named = (await read_client(EVENTS, {"where": {"names": ["Logged In"]}, "first": 50}))["events"]["nodes"]
    assert [e["properties"] for e in named] == [{"Device": "ios"}]
    window = (await read_client(EVENTS, {"where": {"from": "2026-01-03T00:00:00Z", "to": "2026-01-04T00:00:00Z"}, "first": 50}))
    assert sorted(e["name"] for e in window["events"]["nodes"]) == ["Logged In", "Signed Up"]
    mine = (await read_client(EVENTS, {"where": {"identity": "user-1"}, "first": 50}))["events"]["nodes"]
    assert sorted(e["name"] for e in mine) == ["Logged In", "Signed Up"]


async def test_person_events_page_and_filter_by_name(services, project, read_client):
    await services.ingest.record_events(project.id, [EventIn("solo", f"E{i % 3}") for i in range(9)])
    query = """query($after: String) { person(identity: "solo") { events(first: 4, after: $after, names: ["E1", "E2"]) {
      nodes { name } pageInfo { hasNextPage endCursor } } } }"""
    first = (await read_client(query))["person"]["events"]
    second = (await read_client(query, {"after": first["pageInfo"]["endCursor"]}))["person"]["events"]
    assert len(first["nodes"]) == 4 and first["pageInfo"]["hasNextPage"]
    assert len(second["nodes"]) == 2 and not second["pageInfo"]["hasNextPage"]
    assert {e["name"] for e in first["nodes"] + second["nodes"]} == {"E1", "E2"}


async def test_person_lookup_needs_exactly_one_key(read_client):
    errors = await read_client.errors("{ person { id } }")
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await read_client('{ person(identity: "nobody") { id } }'))["person"] is None
    errors = await read_client.errors('{ person(id: "not-a-uuid") { id } }')
    assert errors[0]["extensions"]["field"] == "id"

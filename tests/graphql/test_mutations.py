"""Ingestion mutations over real HTTP: outcomes, idempotency, refusals."""
from __future__ import annotations

import pytest

RECORD = """mutation($input: RecordEventInput!) {
  recordEvent(input: $input) { duplicate event { id name personId identity properties revenue timestamp receivedAt } } }"""
RECORD_MANY = "mutation($input: [RecordEventInput!]!) { recordEvents(input: $input) { accepted duplicates } }"
IDENTIFY = "mutation($a: String!, $u: String!) { identify(input: {anonymousId: $a, userId: $u}) { outcome person { id identified } } }"
ALIAS = """mutation($a: String!, $b: String!, $force: Boolean! = false) {
  alias(input: {identity: $a, otherIdentity: $b, force: $force}) { outcome person { id identified } } }"""
SET = "mutation($i: String!, $p: JSON!, $t: DateTime) { setProperties(input: {identity: $i, properties: $p, timestamp: $t}) { person { id } } }"
PERSON = """query($i: String!) { person(identity: $i) { id identities identified properties lifetimeRevenue
  events(first: 100) { nodes { name identity personId } } } }"""


async def record(client, identity, name, **extra):
    data = await client(RECORD, {"input": {"identity": identity, "name": name, **extra}})
    return data["recordEvent"]


async def test_record_event_returns_the_committed_event(write_client, read_client):
    got = await record(write_client, "anon-1", "Signed Up", properties={"Plan": "pro", "Revenue": "19.99"},
                       timestamp="2026-01-02T03:04:05Z")
    assert got["duplicate"] is False
    event = got["event"]
    assert (event["name"], event["identity"], event["revenue"]) == ("Signed Up", "anon-1", "19.99")
    assert event["timestamp"] == "2026-01-02T03:04:05+00:00"
    person = (await read_client(PERSON, {"i": "anon-1"}))["person"]
    assert person["id"] == event["personId"]
    assert person["lifetimeRevenue"] == "19.99"
    assert person["identified"] is False


async def test_event_names_are_case_sensitive_and_stored_as_sent(write_client, read_client):
    await record(write_client, "u", "Signed Up")
    await record(write_client, "u", "signed up")
    await record(write_client, "u", "Signed Up")
    names = (await read_client("{ eventNames }"))["eventNames"]
    assert names == ["Signed Up", "signed up"]


async def test_idempotent_retry_is_stored_once(write_client, read_client):
    first = await record(write_client, "anon-2", "Paid", id="order-17", properties={"Revenue": 5})
    again = await record(write_client, "anon-2", "Paid", id="order-17", properties={"Revenue": 5})
    assert again["duplicate"] is True and again["event"]["id"] == first["event"]["id"]
    batch = await write_client(RECORD_MANY, {"input": [
        {"identity": "anon-2", "name": "Paid", "id": "order-17"},
        {"identity": "anon-2", "name": "Paid", "id": "order-18"},
        {"identity": "anon-2", "name": "Paid", "id": "order-18"},
    ]})
    assert batch["recordEvents"] == {"accepted": 1, "duplicates": 2}
    person = (await read_client(PERSON, {"i": "anon-2"}))["person"]
    assert len(person["events"]["nodes"]) == 2
    assert person["lifetimeRevenue"] == "5"


async def test_the_same_id_in_another_project_is_another_event(write_client, services, other_project):
    await record(write_client, "x", "Paid", id="shared-id")
    from app.ingest.validation import EventIn
    recorded = await services.ingest.record_event(other_project.id, EventIn("x", "Paid", id="shared-id"))
    assert recorded.duplicate is False


async def test_a_batch_is_all_or_nothing(write_client, read_client):
    errors = await write_client.errors(RECORD_MANY, {"input": [
        {"identity": "b1", "name": "Fine"},
        {"identity": "b1", "name": "Bad", "properties": {"Revenue": "a lot"}},
    ]})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input[1].properties.Revenue"}
    assert (await read_client(PERSON, {"i": "b1"}))["person"] is None


@pytest.mark.parametrize(
    "event, field, words",
    [
        ({"identity": "", "name": "x"}, "input.identity", "non-blank"),
        ({"identity": "a" * 256, "name": "x"}, "input.identity", "at most 255"),
        ({"identity": "a", "name": ""}, "input.name", "1-255"),
        ({"identity": "a", "name": "x", "properties": [1]}, "input.properties", "JSON object"),
        ({"identity": "a", "name": "x", "properties": {"Revenue": "12abc"}}, "input.properties.Revenue", "numeric"),
        ({"identity": "a", "name": "x", "properties": {"big": "x" * 40000}}, "input.properties", "32 KiB"),
        ({"identity": "a", "name": "x", "properties": {"k": "\u0000"}}, "input.properties", "NUL"),
        ({"identity": "a", "name": "x", "timestamp": "1999-01-01T00:00:00Z"}, "input.timestamp", "2000-01-01"),
        ({"identity": "a", "name": "x", "timestamp": "2999-01-01T00:00:00Z"}, "input.timestamp", "future"),
    ],
)
async def test_refusals_name_the_field_and_store_nothing(write_client, read_client, event, field, words):
    errors = await write_client.errors(RECORD, {"input": event})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == field
    assert words in errors[0]["message"]
    assert (await read_client("{ events { nodes { id } } }"))["events"]["nodes"] == []


async def test_malformed_graphql_values_are_bad_user_input(write_client):
    errors = await write_client.errors(RECORD, {"input": {"identity": "a", "name": "x", "timestamp": "yesterday"}})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "timestamp" in errors[0]["message"]


async def test_identify_outcomes(write_client, read_client):
    async def identify(a, u):
        return (await write_client(IDENTIFY, {"a": a, "u": u}))["identify"]

    # both unknown: one new identified person
    named = await identify("anon-a", "ann@x")
    assert named["outcome"] == "NAMED" and named["person"]["identified"]
    # unknown anonymous joins known user
    await record(write_client, "anon-b", "Visited Site")
    merged_in = await identify("anon-new", "ann@x")
    assert merged_in["outcome"] == "MERGED" and merged_in["person"]["id"] == named["person"]["id"]
    # new user names the unidentified anonymous person
    anon_c = await record(write_client, "anon-c", "Visited Site")
    became = await identify("anon-c", "cid@x")
    assert became["outcome"] == "NAMED" and became["person"]["id"] == anon_c["event"]["personId"]
    # same person: unchanged
    assert (await identify("anon-c", "cid@x"))["outcome"] == "UNCHANGED"
    # shared browser: anonymous side is identified already -> new person for the new user
    shared = await identify("anon-c", "dan@x")
    assert shared["outcome"] == "NOT_MERGED" and shared["person"]["id"] != became["person"]["id"]
    # unidentified anonymous person with events merges into the user's person, retroactively
    merged = await identify("anon-b", "ann@x")
    assert merged["outcome"] == "MERGED" and merged["person"]["id"] == named["person"]["id"]
    ann = (await read_client(PERSON, {"i": "ann@x"}))["person"]
    assert set(ann["identities"]) == {"anon-a", "ann@x", "anon-new", "anon-b"}
    assert [e["name"] for e in ann["events"]["nodes"]] == ["Visited Site"]
    assert all(e["personId"] == ann["id"] for e in ann["events"]["nodes"])
    # two identified people are never merged by identify
    assert (await identify("cid@x", "ann@x"))["outcome"] == "NOT_MERGED"


async def test_merged_away_person_id_resolves_to_survivor(write_client, read_client):
    loser = (await record(write_client, "anon-z", "Visited Site"))["event"]["personId"]
    survivor = (await write_client(IDENTIFY, {"a": "anon-y", "u": "zed@x"}))["identify"]["person"]["id"]
    await write_client(IDENTIFY, {"a": "anon-z", "u": "zed@x"})
    found = await read_client("query($id: ID!) { person(id: $id) { id identities } }", {"id": loser})
    assert found["person"]["id"] == survivor
    assert "anon-z" in found["person"]["identities"]
    people = await read_client("{ people { totalCount nodes { id } } }")
    assert people["people"]["totalCount"] == 1


async def test_alias_force_merges_identified_people_with_read_key_only(write_client, read_client):
    await write_client(IDENTIFY, {"a": "a1", "u": "one@x"})
    await write_client(IDENTIFY, {"a": "a2", "u": "two@x"})
    assert (await write_client(ALIAS, {"a": "one@x", "b": "two@x"}))["alias"]["outcome"] == "NOT_MERGED"
    errors = await write_client.errors(ALIAS, {"a": "one@x", "b": "two@x", "force": True})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    forced = (await read_client(ALIAS, {"a": "one@x", "b": "two@x", "force": True}))["alias"]
    assert forced["outcome"] == "MERGED"
    person = (await read_client(PERSON, {"i": "two@x"}))["person"]
    assert set(person["identities"]) == {"a1", "one@x", "a2", "two@x"}


async def test_alias_adds_a_missing_side_in_either_order(write_client, read_client):
    await record(write_client, "known", "Visited Site")
    first = (await write_client(ALIAS, {"a": "known", "b": "fresh-1"}))["alias"]
    second = (await write_client(ALIAS, {"a": "fresh-2", "b": "known"}))["alias"]
    assert first["person"]["id"] == second["person"]["id"]
    person = (await read_client(PERSON, {"i": "known"}))["person"]
    assert set(person["identities"]) == {"known", "fresh-1", "fresh-2"} and person["identified"]


@pytest.mark.parametrize("bad", ["anonymous", "NULL", "undefined", "0", "-1", "[object Object]", "  ", "Email"])
async def test_squashing_identities_are_refused(write_client, bad):
    errors = await write_client.errors(IDENTIFY, {"a": "anon", "u": bad})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.userId"}
    errors = await write_client.errors(ALIAS, {"a": bad, "b": "someone"})
    assert errors[0]["extensions"]["field"] == "input.identity"


async def test_properties_latest_timestamp_wins_and_history_is_kept(write_client, read_client):
    await write_client(SET, {"i": "p1", "p": {"Plan": "pro"}, "t": "2026-03-01T00:00:00Z"})
    await write_client(SET, {"i": "p1", "p": {"Plan": "free"}, "t": "2026-02-01T00:00:00Z"})
    await write_client(SET, {"i": "p1", "p": {"Seats": 3}})
    person = (await read_client(PERSON, {"i": "p1"}))["person"]
    assert person["properties"] == {"Plan": "pro", "Seats": 3}
    history = await read_client('query { person(identity: "p1") { propertyHistory(key: "Plan") { key value at } } }')
    assert history["person"]["propertyHistory"] == [
        {"key": "Plan", "value": "free", "at": "2026-02-01T00:00:00+00:00"},
        {"key": "Plan", "value": "pro", "at": "2026-03-01T00:00:00+00:00"},
    ]


async def test_property_histories_join_on_merge(write_client, read_client):
    await write_client(SET, {"i": "anon-p", "p": {"Plan": "trial", "Color": "red"}, "t": "2026-03-05T00:00:00Z"})
    await write_client(SET, {"i": "pat@x", "p": {"Plan": "pro"}, "t": "2026-03-01T00:00:00Z"})
    await write_client(IDENTIFY, {"a": "x-anon", "u": "pat@x"})
    await write_client(IDENTIFY, {"a": "anon-p", "u": "pat@x"})
    person = (await read_client(PERSON, {"i": "pat@x"}))["person"]
    # The anonymous side's later-timestamped Plan wins after the merge.
    assert person["properties"] == {"Plan": "trial", "Color": "red"}
    history = await read_client('query { person(identity: "pat@x") { propertyHistory(key: "Plan") { value } } }')
    assert [h["value"] for h in history["person"]["propertyHistory"]] == ["pro", "trial"]


async def test_set_properties_refusals(write_client):
    errors = await write_client.errors(SET, {"i": "p", "p": "not an object"})
    assert errors[0]["extensions"]["field"] == "input.properties"
    errors = await write_client.errors(SET, {"i": "p", "p": {}})
    assert errors[0]["extensions"]["field"] == "input.properties"


async def test_a_duplicate_under_another_identity_leaves_no_person_behind(write_client, read_client, services,
                                                                         project):
    await record(write_client, "alice", "Paid", id="order-1")

    async def people() -> tuple[int, int]:
        return (await services.pool.fetchval("SELECT count(*) FROM persons WHERE project_id = $1", project.id),
                await services.pool.fetchval("SELECT count(*) FROM identities WHERE project_id = $1", project.id))

    before = await people()
    # The write key may not see another identity's event: refused ...
    (error,) = await write_client.errors(RECORD, {"input": {"identity": "mallory", "name": "Paid", "id": "order-1"}})
    assert error["extensions"]["field"] == "input.id"
    # ... the read key gets the stored event back as a duplicate.
    again = await record(read_client, "trudy", "Paid", id="order-1")
    assert again["duplicate"] is True and again["event"]["identity"] == "alice"
    # Neither created a person (nor an identity) with no event.
    assert await people() == before
    # A new identity with a new event in the same batch as a duplicate stays.
    batch = await write_client(RECORD_MANY, {"input": [
        {"identity": "bob", "name": "Paid", "id": "order-1"}, {"identity": "bob", "name": "Seen"}]})
    assert batch["recordEvents"] == {"accepted": 1, "duplicates": 1}
    assert await people() == (before[0] + 1, before[1] + 1)

"""Tenancy and keys (DESIGN.md §3), as a matrix: every query, nested field,
mutation, the liveEvents subscription and every tracking endpoint, against

- the keys of another project: project A (the caller) sees nothing of project
  B, whose identities, properties, event names and amounts carry the marker
  "SECRET-B" (or 31337), and changes nothing in B; B answers the same report
  first, so a report cache keyed without the project would hand B's answer to A;
- the write key on reads: FORBIDDEN (GraphQL), refused connection (WebSocket);
- no key and malformed keys: 401 (HTTP) or a refused connection (WebSocket),
  and nothing written.

No answer, error or not, names a marker of the other project, shows a stack
trace or SQL (tests/security/conftest.py assert_no_leak)."""
from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import orjson
import pytest

from app.auth import ProjectKeys, hash_key
from app.ingest.validation import EventIn
from app.tracking.kissmetrics import event_id as km_event_id
from tests.support.server import GraphQLClient, make_project
from tests.support.live import LEGACY_WS, LiveClient, Refused, eventually
from tests.support.live import stats as live_stats
from tests.support.leaks import assert_no_leak, counts, event_count, identity_anywhere, snapshot

UTC = timezone.utc
T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # a Monday
T0_UNIX = str(int(T0.timestamp()))
RANGE = {"from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z"}
B_ORDER_ID = "shared-order-1"  # an idempotency id used in B (and, innocently, in A)

# A's own data that its public write key must not read either.
A_PRIVATE = ["a-plan", "a-note", "a-source"]


@dataclass
class World:
    a: ProjectKeys
    b: ProjectKeys
    b_person: uuid.UUID
    b_events: list[uuid.UUID]
    markers: list[str] = field(default_factory=list)  # never in any answer to A


@pytest.fixture(scope="module")
async def world(services) -> World:
    """B (the victim) and A (the caller), both with a person "shared@x"."""
    a = await make_project(services, "iso-a")
    b = await make_project(services, "iso-b")
    ingest = services.ingest
    recorded = await ingest.record_events(b.id, [
        EventIn("shared@x", "Signed Up", {"note": "SECRET-B-NOTE"}, T0,
                km_event_id("shared@x", "Signed Up", T0_UNIX)),
        EventIn("shared@x", "Purchased", {"Revenue": "31337.77", "Campaign Source": "SECRET-B-SOURCE"},
                T0 + timedelta(hours=1), B_ORDER_ID),
        EventIn("SECRET-B-only@x", "SECRET-B Event", {"SECRET-B-KEY": "SECRET-B-VALUE"}, T0 + timedelta(hours=2)),
        EventIn("b-2@x", "Signed Up", {"note": "SECRET-B-NOTE-2"}, T0),
        EventIn("b-2@x", "Purchased", {"Revenue": 31337, "Campaign Source": "SECRET-B-SOURCE"},
                T0 + timedelta(hours=1)),
        EventIn("b-3@x", "Signed Up", {}, T0 + timedelta(hours=3)),
    ])
    await ingest.identify(b.id, "SECRET-B-only@x", "shared@x")
    await ingest.alias(b.id, "b-alias@x", "shared@x")
    await ingest.set_properties(b.id, "shared@x", {"Plan": "SECRET-B-PLAN", "SECRET-B-KEY": "SECRET-B-VALUE"}, T0)
    b_person = (await services.people.by_identity(b.id, "shared@x")).id

    await ingest.record_events(a.id, [
        EventIn("shared@x", "Signed Up", {"note": "a-note"}, T0),
        EventIn("shared@x", "Purchased", {"Revenue": 5, "Campaign Source": "a-source"}, T0 + timedelta(hours=1)),
    ])
    await ingest.set_properties(a.id, "shared@x", {"Plan": "a-plan"}, T0)

    b_events = [r.event.id for r in recorded]
    markers = ["SECRET-B", "31337", str(b_person), *map(str, b_events), b.read_key, b.write_key, str(b.id)]
    return World(a, b, b_person, b_events, markers)


def gql(http, key: str | None) -> GraphQLClient:
    return GraphQLClient(http, key)


# ===================================================================== reads

PERSON_FIELDS = """id identities identified properties firstSeen lastSeen lifetimeRevenue
  events(first: 100) { nodes { id name identity personId properties revenue timestamp } pageInfo { endCursor } }
  propertyHistory(key: "Plan") { key value at }"""

FUNNEL = """query($from: DateTime!, $to: DateTime!, $seg: SegmentInput) {
  funnel(input: {steps: [{event: "Signed Up"}, {event: "Purchased"}], from: $from, to: $to, segmentBy: $seg}) {
    steps { event people droppedOff peopleList(first: 100) { totalCount nodes { id identities properties } }
            dropped: peopleList(status: DROPPED) { totalCount nodes { id identities } } }
    segments { value conversionRate steps { people peopleList { nodes { id identities } } } comparison { baseline } }
  } }"""

COHORT = """query($from: DateTime!, $to: DateTime!) {
  cohort(input: {cohortEvent: "Signed Up", returnEvent: "Purchased", from: $from, to: $to,
                 cohortPeriod: DAY, bucket: DAY, buckets: 3}) { rows { start size cells { index people rate } } } }"""

REVENUE = """query($from: DateTime!, $to: DateTime!) {
  revenueReport(input: {from: $from, to: $to, interval: DAY}) {
    total gross refunds payingPeople averageRevenuePerPayingPerson
    series { start total payingPeople } bySource { value total payingPeople }
    topPeople(first: 100) { totalCount nodes { revenue person { id identities properties lifetimeRevenue } } }
  } }"""


def _a_person(person: dict) -> None:
    assert person["identities"] == ["shared@x"]
    assert person["properties"] == {"Plan": "a-plan"}
    assert Decimal(person["lifetimeRevenue"]) == 5
    assert sorted(e["name"] for e in person["events"]["nodes"]) == ["Purchased", "Signed Up"]
    assert [c["value"] for c in person["propertyHistory"]] == ["a-plan"]


def _funnel(data: dict, segments: list) -> None:
    steps = data["funnel"]["steps"]
    assert [s["people"] for s in steps] == [1, 1]
    assert [[n["identities"] for n in s["peopleList"]["nodes"]] for s in steps] == [[["shared@x"]]] * 2
    assert [s["dropped"]["totalCount"] for s in steps] == [0, 0]
    assert [s["value"] for s in data["funnel"]["segments"]] == segments


def _revenue(data: dict) -> None:
    report = data["revenueReport"]
    assert Decimal(report["total"]) == 5 and report["payingPeople"] == 1
    assert [(s["value"], Decimal(s["total"])) for s in report["bySource"]] == [("a-source", 5)]
    assert sum(Decimal(p["total"]) for p in report["series"]) == 5
    top = report["topPeople"]
    assert top["totalCount"] == 1
    assert [(n["person"]["identities"], Decimal(n["revenue"])) for n in top["nodes"]] == [(["shared@x"], 5)]


# name: (query, variables, check of A's answer); "b-person-id" in variables is B's person id.
READS = {
    "person by a shared identity": (
        f'query {{ person(identity: "shared@x") {{ {PERSON_FIELDS} }} }}', {},
        lambda d: _a_person(d["person"])),
    "person by B's own identity": (
        f'query {{ person(identity: "SECRET-B-only@x") {{ {PERSON_FIELDS} }} }}', {},
        lambda d: d["person"] is None or pytest.fail(d)),
    "person by B's person id": (
        f"query($id: ID!) {{ person(id: $id) {{ {PERSON_FIELDS} }} }}", {"id": "b-person-id"},
        lambda d: d["person"] is None or pytest.fail(d)),
    "people": (
        "{ people(first: 1000) { totalCount nodes { id identities properties lifetimeRevenue } } }", {},
        lambda d: (d["people"]["totalCount"], [n["identities"] for n in d["people"]["nodes"]])
        == (1, [["shared@x"]]) or pytest.fail(d)),
    "people filtered by B's values": (
        '{ byPlan: people(where: {properties: [{key: "Plan", value: "SECRET-B-PLAN"}]}) { totalCount nodes { id } }'
        ' byKey: people(where: {properties: [{key: "SECRET-B-KEY", op: EXISTS}]}) { totalCount }'
        ' byEvent: people(where: {didEvent: "SECRET-B Event"}) { totalCount } }', {},
        lambda d: [d[k]["totalCount"] for k in ("byPlan", "byKey", "byEvent")] == [0, 0, 0] or pytest.fail(d)),
    "events": (
        "{ events(first: 1000) { nodes { id name identity personId properties revenue } } }", {},
        lambda d: sorted(e["name"] for e in d["events"]["nodes"]) == ["Purchased", "Signed Up"] or pytest.fail(d)),
    "events filtered by B's identities, names and values": (
        '{ byIdentity: events(where: {identity: "SECRET-B-only@x"}) { nodes { id } }'
        ' byAlias: events(where: {identity: "b-alias@x"}) { nodes { id } }'
        ' byName: events(where: {names: ["SECRET-B Event"]}) { nodes { id } }'
        ' byValue: events(where: {properties: [{key: "note", op: STARTS_WITH, value: "SECRET"}]}) { nodes { id } } }',
        {}, lambda d: all(v["nodes"] == [] for v in d.values()) or pytest.fail(d)),
    "eventNames": (
        "{ eventNames(first: 1000) }", {},
        lambda d: sorted(d["eventNames"]) == ["Purchased", "Signed Up"] or pytest.fail(d)),
    "Person.events and Person.propertyHistory with B's names and keys": (
        '{ person(identity: "shared@x") { events(names: ["SECRET-B Event"]) { nodes { id } }'
        ' propertyHistory(key: "SECRET-B-KEY") { value } } }', {},
        lambda d: d["person"] == {"events": {"nodes": []}, "propertyHistory": []} or pytest.fail(d)),
    "funnel (+ FunnelStep.peopleList) by person property": (
        FUNNEL, {**RANGE, "seg": {"personProperty": "Plan"}}, lambda d: _funnel(d, ["a-plan"])),
    "funnel by first-step property": (
        FUNNEL, {**RANGE, "seg": {"firstStepProperty": "note"}}, lambda d: _funnel(d, ["a-note"])),
    "funnel unsegmented": (FUNNEL, {**RANGE, "seg": None}, lambda d: _funnel(d, [])),
    "cohort": (
        COHORT, RANGE,
        lambda d: sum(r["size"] for r in d["cohort"]["rows"]) == 1 or pytest.fail(d)),
    "revenueReport (+ RevenueReport.topPeople)": (REVENUE, RANGE, lambda d: _revenue(d)),
}


def _vars(world: World, variables: dict) -> dict:
    return {k: (str(world.b_person) if v == "b-person-id" else v) for k, v in variables.items()}


@pytest.mark.parametrize("name", list(READS))
async def test_a_read_key_sees_nothing_of_another_project(world, http, name):
    query, variables, check = READS[name]
    variables = _vars(world, variables)
    # B asks first: a report cache or any other memo keyed without the
    # project would now answer A with B's result.
    b_answer = await gql(http, world.b.read_key).raw(query, variables)
    assert b_answer.status_code == 200 and not b_answer.json().get("errors"), b_answer.text
    response = await gql(http, world.a.read_key).raw(query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    check(body["data"])
    assert_no_leak(response.text, world.markers)


@pytest.mark.parametrize("name", list(READS))
async def test_a_write_key_cannot_read(world, http, name):
    query, variables, _ = READS[name]
    response = await gql(http, world.a.write_key).raw(query, _vars(world, variables))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors"), body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body
    assert_no_leak(response.text, world.markers + A_PRIVATE + ["shared@x"])


async def test_cursors_of_another_project_show_nothing_of_it(world, http):
    """Cursors are opaque but not signed: B's cursors, sent with A's key, must
    page through A's data (or be refused), never B's."""
    b = gql(http, world.b.read_key)
    cursors = await b("""query($from: DateTime!, $to: DateTime!) {
      events(first: 1) { pageInfo { endCursor } }
      people(first: 1) { pageInfo { endCursor } }
      person(identity: "shared@x") { events(first: 1) { pageInfo { endCursor } } }
      funnel(input: {steps: [{event: "Signed Up"}], from: $from, to: $to}) {
        steps { peopleList(first: 1) { pageInfo { endCursor } } } }
      revenueReport(input: {from: $from, to: $to}) { topPeople(first: 1) { pageInfo { endCursor } } }
    }""", RANGE)
    after = {
        "events": cursors["events"]["pageInfo"]["endCursor"],
        "people": cursors["people"]["pageInfo"]["endCursor"],
        "personEvents": cursors["person"]["events"]["pageInfo"]["endCursor"],
        "funnel": cursors["funnel"]["steps"][0]["peopleList"]["pageInfo"]["endCursor"],
        "top": cursors["revenueReport"]["topPeople"]["pageInfo"]["endCursor"],
    }
    assert all(after.values()), after
    response = await gql(http, world.a.read_key).raw("""
      query($from: DateTime!, $to: DateTime!, $events: String, $people: String, $personEvents: String,
            $funnel: String, $top: String) {
        events(first: 100, after: $events) { nodes { id identity properties } }
        people(first: 100, after: $people) { nodes { id identities properties } }
        person(identity: "shared@x") { events(after: $personEvents) { nodes { id identity properties } } }
        funnel(input: {steps: [{event: "Signed Up"}], from: $from, to: $to}) {
          steps { peopleList(after: $funnel) { nodes { id identities properties } } } }
        revenueReport(input: {from: $from, to: $to}) {
          topPeople(after: $top) { nodes { revenue person { id identities } } } }
      }""", {**RANGE, **after})
    assert response.status_code == 200, response.text
    for error in response.json().get("errors") or []:
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert_no_leak(response.text, world.markers)


# ================================================================ mutations

GREEDY_PERSON = """person { id identified identities properties lifetimeRevenue firstSeen lastSeen
  events { nodes { id name properties } } propertyHistory(key: "Plan") { value } }"""

# name: (mutation, variables, check of the data, change of A's (events, persons, identities, changes))
MUTATIONS = {
    "recordEvent with B's identity and B's idempotency ids": (
        """mutation($km: String!) {
          one: recordEvent(input: {identity: "shared@x", name: "Signed Up", id: $km}) {
            duplicate event { id personId identity name properties } }
          two: recordEvent(input: {identity: "b-alias@x", name: "Purchased", id: "shared-order-1",
                                   properties: {Revenue: 1}}) {
            duplicate event { id personId identity name properties revenue } } }""",
        {"km": km_event_id("shared@x", "Signed Up", T0_UNIX)},
        lambda d: [d["one"]["duplicate"], d["two"]["duplicate"]] == [False, False] or pytest.fail(d),
        (2, 2, 2, 0)),
    "recordEvents with B's identities and ids": (
        """mutation { recordEvents(input: [
             {identity: "shared@x", name: "Purchased", id: "shared-order-1", properties: {Revenue: 2}},
             {identity: "SECRET-B-only@x", name: "Seen"}]) { accepted duplicates } }""", {},
        lambda d: d["recordEvents"] == {"accepted": 2, "duplicates": 0} or pytest.fail(d),
        (2, 2, 2, 0)),
    "identify with two identities B has merged": (
        f'mutation {{ identify(input: {{anonymousId: "b-alias@x", userId: "shared@x"}}) {{ outcome {GREEDY_PERSON} }} }}',
        {}, lambda d: d["identify"]["outcome"] == "NAMED" or pytest.fail(d), (0, 1, 2, 0)),
    "alias with two identities B has merged": (
        f'mutation {{ alias(input: {{identity: "shared@x", otherIdentity: "b-alias@x"}}) {{ outcome {GREEDY_PERSON} }} }}',
        {}, lambda d: d["alias"]["outcome"] == "NAMED" or pytest.fail(d), (0, 1, 2, 0)),
    "alias force on two identified people named as B's": (
        f"""mutation {{
          one: identify(input: {{anonymousId: "anon-1", userId: "shared@x"}}) {{ outcome }}
          two: identify(input: {{anonymousId: "anon-2", userId: "b-alias@x"}}) {{ outcome }}
          forced: alias(input: {{identity: "shared@x", otherIdentity: "b-alias@x", force: true}}) {{
            outcome {GREEDY_PERSON} }} }}""",
        {}, lambda d: [d["one"]["outcome"], d["two"]["outcome"], d["forced"]["outcome"]]
        == ["NAMED", "NAMED", "MERGED"] or pytest.fail(d), (0, 2, 4, 0)),
    "setProperties on B's identity": (
        f'mutation {{ setProperties(input: {{identity: "shared@x", properties: {{Plan: "mine"}}}}) {{ {GREEDY_PERSON} }} }}',
        {}, lambda d: d["setProperties"]["person"]["id"] is not None or pytest.fail(d), (0, 1, 1, 1)),
}

# Mutations whose answer selects a person's readable-with-the-read-key-only
# fields: with the write key those fields are FORBIDDEN, the mutation is not.
READS_PEOPLE = {"identify with two identities B has merged", "alias with two identities B has merged",
                "setProperties on B's identity"}


READ_KEY_ONLY = {"alias force on two identified people named as B's"}  # the write key: tested below


@pytest.mark.parametrize("name, role", [(n, r) for n in MUTATIONS for r in ("read", "write")
                                        if not (r == "write" and n in READ_KEY_ONLY)])
async def test_mutations_change_only_the_callers_project(world, services, http, project, name, role):
    """A fresh project (`project`) calls each mutation naming B's identities
    and ids: the effect lands in it, B is untouched, and the answer shows
    nothing of B (with the write key: nothing of any person either)."""
    mutation, variables, check, change = MUTATIONS[name]
    before_b = await snapshot(services, world.b.id)
    before = await counts(services, project.id)
    key = project.read_key if role == "read" else project.write_key
    response = await gql(http, key).raw(mutation, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    errors = body.get("errors") or []
    if role == "write" and name in READS_PEOPLE:
        assert errors and {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}, body
        assert all(len(e["path"]) > 2 for e in errors), "the mutation itself is allowed to the write key"
    else:
        assert not errors, body
        check(body["data"])
    after = await counts(services, project.id)
    assert tuple(x - y for x, y in zip(after, before)) == change
    assert await snapshot(services, world.b.id) == before_b
    for value in _walk(body["data"]):
        assert value not in (str(world.b_person), *map(str, world.b_events))
    assert_no_leak(response.text, world.markers)


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


async def test_a_write_key_cannot_read_a_stored_event_through_its_id(world, services, http, project):
    """recordEvent answers a duplicate with the stored event. Ids can be
    computed (a Kissmetrics `_d=1` event's id is a hash of identity, name and
    time), so with the public write key that answer must not show an event
    the caller did not send itself."""
    secret = {"Revenue": "99.50", "card": "SECRET-A-CARD"}
    km_id = km_event_id("victim@x", "Purchased", T0_UNIX)
    await services.ingest.record_event(project.id, EventIn("victim@x", "Purchased", secret, T0, km_id))
    before = await event_count(services, project.id)
    query = """mutation($id: String!) { recordEvent(input: {identity: "attacker", name: "Probe", id: $id}) {
      duplicate event { id identity name properties revenue personId timestamp } } }"""
    response = await gql(http, project.write_key).raw(query, {"id": km_id})
    body = response.json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.id"}, body
    assert_no_leak(response.text, ["SECRET-A-CARD", "99.5", "victim@x"])
    # the read key still gets the stored event; a genuine retry with the write key too
    read = await gql(http, project.read_key)(query, {"id": km_id})
    assert read["recordEvent"]["event"]["properties"] == secret
    retry = await gql(http, project.write_key)(
        'mutation($id: String!, $p: JSON) { recordEvent(input: {identity: "victim@x", name: "Purchased",'
        ' properties: $p, id: $id}) { duplicate event { id } } }', {"id": km_id, "p": secret})
    assert retry["recordEvent"]["duplicate"] is True
    assert await event_count(services, project.id) == before


async def test_alias_force_needs_the_read_key_and_tracking_never_forces(services, http, project):
    """Two identified people: merged only by GraphQL alias(force: true) with the
    read key; not by the write key, not by /a or Segment alias whatever they add."""
    ingest, key = services.ingest, project.write_key
    await ingest.identify(project.id, "anon-1", "one@x")
    await ingest.identify(project.id, "anon-2", "two@x")

    async def merged() -> bool:
        one = await services.people.by_identity(project.id, "one@x")
        two = await services.people.by_identity(project.id, "two@x")
        return one.id == two.id

    force_params = {"force": "true", "_force": "1", "_f": "1", "force_merge": "1", "_d": "0"}
    for method in ("GET", "POST"):
        params = {"_k": key, "_p": "one@x", "_n": "two@x", **force_params}
        if method == "GET":
            response = await http.get("/a", params=params)
        else:
            response = await http.post("/a", data=params)
        assert response.status_code == 200
        assert not await merged()
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    for body in ({"previousId": "one@x", "userId": "two@x", "force": True},
                 {"previousId": "two@x", "userId": "one@x", "context": {"force": True},
                  "integrations": {"All": True, "force": True}, "options": {"force": True}}):
        response = await http.post("/v1/alias", json=body, headers=basic)
        assert response.status_code == 200, response.text
        assert not await merged()
    batch = {"batch": [{"type": "alias", "previousId": "one@x", "userId": "two@x", "force": True}]}
    assert (await http.post("/v1/batch", json=batch, headers=basic)).status_code == 200
    assert not await merged()

    alias = 'mutation($force: Boolean!) { alias(input: {identity: "one@x", otherIdentity: "two@x", force: $force}) { outcome } }'
    errors = await gql(http, project.write_key).errors(alias, {"force": True})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert not await merged()
    assert (await gql(http, project.read_key)(alias, {"force": False}))["alias"]["outcome"] == "NOT_MERGED"
    assert not await merged()
    assert (await gql(http, project.read_key)(alias, {"force": True}))["alias"]["outcome"] == "MERGED"
    assert await merged()


# ============================================================== no key, bad keys

OPERATIONS = {
    **{f"query {name}": (q, v) for name, (q, v, _) in READS.items()},
    "recordEvent": ('mutation($i: String!) { recordEvent(input: {identity: $i, name: "E"}) { event { id } } }', {}),
    "recordEvents": ('mutation($i: String!) { recordEvents(input: [{identity: $i, name: "E"}]) { accepted } }', {}),
    "identify": ('mutation($i: String!) { identify(input: {anonymousId: $i, userId: "u@x"}) { outcome } }', {}),
    "alias": ('mutation($i: String!) { alias(input: {identity: $i, otherIdentity: "u@x"}) { outcome } }', {}),
    "alias force": ('mutation($i: String!) { alias(input: {identity: $i, otherIdentity: "u@x", force: true}) { outcome } }', {}),
    "setProperties": ('mutation($i: String!) { setProperties(input: {identity: $i, properties: {a: 1}}) { person { id } } }', {}),
    "liveEvents over HTTP": ("subscription { liveEvents { id name properties } }", {}),
}

BAD_HEADERS = {
    "none": lambda w: None,
    "empty bearer": lambda w: "Bearer",
    "unknown key": lambda w: "Bearer rk_" + secrets.token_urlsafe(24),
    "truncated key": lambda w: "Bearer " + w.a.read_key[:-1],
    "key plus a character": lambda w: "Bearer " + w.a.read_key + "x",
    "the stored hash of the key": lambda w: "Bearer " + hash_key(w.a.read_key).hex(),
    "key without the scheme": lambda w: w.a.read_key,
    "key as Basic": lambda w: "Basic " + base64.b64encode(f"{w.a.read_key}:".encode()).decode(),
    "huge": lambda w: "Bearer " + "x" * 8000,
    "non-latin bytes": lambda w: b"Bearer \xff\xfe" + w.a.read_key.encode(),
}


@pytest.mark.parametrize("header", list(BAD_HEADERS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_graphql_without_a_valid_key_is_401_and_writes_nothing(world, services, http, operation, header):
    query, variables = OPERATIONS[operation]
    identity = f"nokey-{secrets.token_hex(6)}"
    variables = {**_vars(world, variables), **({"i": identity} if "$i" in query else {})}
    value = BAD_HEADERS[header](world)
    headers = {"Content-Type": "application/json"} | ({"Authorization": value} if value is not None else {})
    response = await http.post("/graphql", content=orjson.dumps({"query": query, "variables": variables}),
                               headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"] in ("missing API key", "unknown API key")
    assert_no_leak(response.text, world.markers + A_PRIVATE)
    assert await identity_anywhere(services, identity) == 0


# ============================================================== liveEvents

async def test_live_events_of_another_project_never_arrive(world, server, project):
    """A (a fresh project) subscribes: all events, only "shared@x"'s, and by
    names (legacy protocol); B commits events of its "shared@x"; then A
    records a sentinel: it is the first and only thing A receives, on every
    subscription."""
    everything = await LiveClient.connect(server, project.read_key)
    shared = await LiveClient.connect(server, project.read_key)
    legacy = await LiveClient.connect(server, project.read_key, protocol=LEGACY_WS)
    try:
        await everything.subscribe()
        await shared.subscribe({"identity": "shared@x"})
        await legacy.subscribe({"names": ["Signed Up", "SECRET-B Event", "Live Sentinel"]})
        # all three are registered in the server's live bus
        await eventually(lambda: _subscribers(server, project.read_key, 3))
        for i in range(3):
            await gql_post(server, world.b.write_key, "shared@x", "Signed Up", {"note": f"SECRET-B-LIVE-{i}"})
            await gql_post(server, world.b.write_key, "SECRET-B-only@x", "SECRET-B Event", {"i": i})
        sentinel = await gql_post(server, project.write_key, "shared@x", "Live Sentinel", {"n": 1})
        for client in (everything, shared, legacy):
            payload = await client.next_payload()
            assert payload["data"]["liveEvents"]["id"] == sentinel, payload
            assert_no_leak(orjson.dumps(payload).decode(), world.markers)
            await client.nothing_within(0.2)
    finally:
        for client in (everything, shared, legacy):
            await client.close()


async def _subscribers(base_url: str, read_key: str, count: int) -> bool:
    return len((await live_stats(base_url, read_key))["subscribers"]) == count


async def gql_post(base_url: str, key: str, identity: str, name: str, properties: dict) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        data = await GraphQLClient(client, key)(
            "mutation($i: RecordEventInput!) { recordEvent(input: $i) { event { id } } }",
            {"i": {"identity": identity, "name": name, "properties": properties}})
    return data["recordEvent"]["event"]["id"]


WS_REFUSALS = {
    "write key": lambda w: {"authorization": f"Bearer {w.a.write_key}"},
    "no payload": lambda w: {},
    "empty bearer": lambda w: {"authorization": "Bearer "},
    "unknown key": lambda w: {"authorization": "Bearer rk_" + secrets.token_urlsafe(24)},
    "truncated key": lambda w: {"authorization": "Bearer " + w.a.read_key[:-1]},
    "the stored hash": lambda w: {"authorization": "Bearer " + hash_key(w.a.read_key).hex()},
    "key without the scheme": lambda w: {"authorization": w.a.read_key},
    "key as Basic": lambda w: {"authorization": "Basic " + base64.b64encode(f"{w.a.read_key}:".encode()).decode()},
    "key not a string": lambda w: {"authorization": ["Bearer", w.a.read_key]},
    "huge": lambda w: {"authorization": "Bearer " + "x" * 100_000},
}


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", LEGACY_WS])
@pytest.mark.parametrize("case", list(WS_REFUSALS))
async def test_live_events_refuse_the_write_key_and_bad_keys(world, server, case, protocol):
    payload = WS_REFUSALS[case](world)
    with pytest.raises(Refused) as refused:
        client = await LiveClient.connect(server, None, payload=payload, protocol=protocol)
        await client.close()  # only reached if the connection was (wrongly) accepted
    if protocol == LEGACY_WS:
        assert refused.value.payload["code"] == ("FORBIDDEN" if case == "write key" else "UNAUTHENTICATED")
        assert_no_leak(orjson.dumps(refused.value.payload).decode(), world.markers + A_PRIVATE)
    else:
        assert refused.value.code in (4401, 4403), refused.value
    assert_no_leak(refused.value.reason or "", world.markers)


async def test_live_events_with_a_key_in_the_upgrade_header(world, server):
    """Non-browser clients may send the key as the upgrade request's header:
    the same rules apply (write key refused, read key sees only its project)."""
    with pytest.raises(Refused) as refused:
        await LiveClient.connect(server, None, payload={},
                                 additional_headers={"Authorization": f"Bearer {world.a.write_key}"})
    assert refused.value.code in (4401, 4403)
    client = await LiveClient.connect(server, None, payload={},
                                      additional_headers={"Authorization": f"Bearer {world.a.read_key}"})
    await client.close()


# ============================================================== tracking

def _basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


# name: (method, path, how the key travels, params or JSON body, change of A's (events, persons, identities, changes))
TRACKING = {
    "/e GET": ("GET", "/e", "_k", {"_p": "shared@x", "_n": "Signed Up", "_t": T0_UNIX, "_d": "1",
                                    "note": "mine"}, (1, 1, 1, 0)),
    "/e POST": ("POST", "/e", "_k", {"_p": "SECRET-B-only@x", "_n": "SECRET-B Event"}, (1, 1, 1, 0)),
    "/s": ("GET", "/s", "_k", {"_p": "shared@x", "Plan": "mine"}, (0, 1, 1, 1)),
    "/a": ("GET", "/a", "_k", {"_p": "b-alias@x", "_n": "shared@x"}, (0, 1, 2, 0)),
    "/v1/track": ("POST", "/v1/track", "basic", {"userId": "shared@x", "event": "Purchased",
                                                  "messageId": B_ORDER_ID, "properties": {"revenue": 1}},
                  (1, 1, 1, 0)),
    "/v1/identify": ("POST", "/v1/identify", "body", {"userId": "shared@x", "anonymousId": "b-alias@x",
                                                      "traits": {"Plan": "mine"}}, (0, 1, 2, 1)),
    "/v1/alias": ("POST", "/v1/alias", "bearer", {"previousId": "SECRET-B-only@x", "userId": "shared@x"},
                  (0, 1, 2, 0)),
    "/v1/page": ("POST", "/v1/page", "basic", {"anonymousId": "b-alias@x", "name": "Home"}, (1, 1, 1, 0)),
    "/v1/batch": ("POST", "/v1/batch", "basic", {"batch": [
        {"type": "track", "userId": "shared@x", "event": "Purchased", "messageId": B_ORDER_ID},
        {"type": "identify", "userId": "shared@x", "traits": {"Plan": "mine"}},
        {"type": "page", "userId": "SECRET-B-only@x"}]}, (2, 2, 2, 1)),
}


async def _send(http, kind: str, method: str, path: str, how: str, payload: dict, key: str | None,
                header: str | bytes | None = None):
    if how == "_k":
        params = {**payload, **({"_k": key} if key is not None else {})}
        if method == "GET":
            return await http.get(path, params=params)
        return await http.post(path, data=params)
    headers = {"Content-Type": "application/json"}
    body = dict(payload)
    if header is not None:
        headers["Authorization"] = header
    elif key is not None:
        if how == "body":
            body["writeKey"] = key
        elif how == "bearer" and key and key == key.strip() and key.isprintable():
            headers["Authorization"] = f"Bearer {key}"
        else:
            headers.update(_basic(key))
    return await http.post(path, content=orjson.dumps(body), headers=headers)


@pytest.mark.parametrize("endpoint", list(TRACKING))
async def test_tracking_with_another_projects_identities_and_ids_writes_only_the_callers_project(
        world, services, http, project, endpoint):
    method, path, how, payload, change = TRACKING[endpoint]
    before_b = await snapshot(services, world.b.id)
    before = await counts(services, project.id)
    response = await _send(http, endpoint, method, path, how, payload, project.write_key)
    assert response.status_code == 200, response.text
    assert_no_leak(response.text, world.markers)
    after = await counts(services, project.id)
    assert tuple(x - y for x, y in zip(after, before)) == change
    assert await snapshot(services, world.b.id) == before_b


TRACKING_BAD_KEYS = {
    "none": None,
    "empty": "",
    "unknown": "wk_" + secrets.token_urlsafe(24),
    "truncated": "TRUNCATED",
    "stored hash": "HASH",
    "huge": "x" * 5000,
    "NUL": "wk_\x00",
    "another project's key plus a space": "B+SPACE",
}


@pytest.mark.parametrize("bad", list(TRACKING_BAD_KEYS))
@pytest.mark.parametrize("endpoint", list(TRACKING))
async def test_tracking_without_a_valid_key_is_401_and_writes_nothing(world, services, http, project, endpoint, bad):
    method, path, how, payload, _ = TRACKING[endpoint]
    key = {"TRUNCATED": project.write_key[:-1], "HASH": hash_key(project.write_key).hex(),
           "B+SPACE": world.b.write_key + " "}.get(TRACKING_BAD_KEYS[bad], TRACKING_BAD_KEYS[bad])
    identity = f"nokey-{secrets.token_hex(6)}"
    payload = orjson.loads(orjson.dumps(payload).replace(b"shared@x", identity.encode()))
    before = await counts(services, project.id)
    response = await _send(http, endpoint, method, path, how, payload, key)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "UNAUTHENTICATED"
    assert body["field"] == ("_k" if how == "_k" else "writeKey")
    assert body["error"].endswith(("missing API key", "unknown API key"))
    assert response.headers["access-control-allow-origin"] == "*"
    assert_no_leak(response.text, world.markers + A_PRIVATE)
    assert await identity_anywhere(services, identity) == 0
    assert await counts(services, project.id) == before


@pytest.mark.parametrize("endpoint", [e for e in TRACKING if TRACKING[e][2] != "_k"])
async def test_segment_malformed_authorization_headers_are_401(world, services, http, endpoint):
    method, path, how, payload, _ = TRACKING[endpoint]
    for header in ("Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
                   "Basic " + base64.b64encode(b":" + world.a.write_key.encode()).decode(),
                   "Bearer", "Digest " + world.a.write_key, b"Basic \xff\xfe"):
        response = await _send(http, endpoint, method, path, "basic", payload, None, header=header)
        assert response.status_code == 401, (header, response.text)
        assert response.json()["field"] == "writeKey"
        assert_no_leak(response.text, world.markers + A_PRIVATE)


@pytest.mark.parametrize("role", ["read", "write"])
async def test_live_events_over_http_are_refused_plainly(world, http, role):
    """A subscription POSTed over HTTP (found by this matrix: Strawberry ran it
    as a query, an "Unexpected error." with a logged trace, and no FORBIDDEN
    for the write key): refused with 400, nothing executed."""
    key = world.a.read_key if role == "read" else world.a.write_key
    for query in ("subscription { liveEvents { id name properties } }",
                  "query Q { eventNames } subscription S { liveEvents { id } }"):
        response = await http.post("/graphql", json={"query": query, "operationName": "S" if "S" in query else None},
                                   headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400, response.text
        assert "WebSocket" in response.text
        assert_no_leak(response.text, world.markers + A_PRIVATE)
    # the query of such a document still runs (and the write key may not read)
    response = await http.post("/graphql", json={"query": "query Q { eventNames } subscription S { liveEvents { id } }",
                                                 "operationName": "Q"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    if role == "read":
        assert sorted(body["data"]["eventNames"]) == ["Purchased", "Signed Up"]
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

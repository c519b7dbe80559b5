"""Property-based fuzzing of GraphQL inputs with hypothesis: the variables of
recordEvent, recordEvents, setProperties and identify, of the report inputs
(funnel, cohort, revenueReport), and whole request bodies. Values are
random and hostile: wrong types, NUL characters, huge strings, deep JSON,
NaN/Infinity tokens, 1e309, 10**400, -0, 2**64, extreme and invalid dates
(with offsets that leave years 1-9999 in UTC), many keys. For every request:

- never a 5xx, never an "Unexpected error." (INTERNAL_SERVER_ERROR);
- a refusal names the problem: an HTTP 4xx has a message; a GraphQL error
  has `extensions.code`, and a resolver's refusal its `field`;
- a refused mutation wrote nothing (the project's events, persons,
  identities and property changes, counted through `services`);
- an accepted recordEvent stored exactly the event it answered with.

One project per test function; counts are checked around every example."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from app.ingest.validation import EventIn
from tests.support.leaks import FUZZ, assert_no_trace, counts

UTC = timezone.utc

# ------------------------------------------------------------------ strategies

chars = st.characters(exclude_categories=("Cs",))
safe_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=24).filter(str.strip)
hostile_text = st.sampled_from([
    "", " ", "\x00", "a\x00b", "undefined", "null", "NaN", "x" * 255, "x" * 256, "é" * 256, "🎉" * 256,
    "y" * 40_000, "$1", "\u202e", "'; DROP TABLE events;--",
])
text = safe_text | hostile_text | st.text(chars, max_size=20)
wrong_types = st.none() | st.booleans() | st.integers() | st.floats() | st.lists(st.integers(), max_size=2) \
    | st.just({"a": 1})

offsets = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12)),
                           timezone(timedelta(hours=5, minutes=30))])
recent = st.integers(60, 86400 * 300).map(lambda s: (datetime.now(UTC) - timedelta(seconds=s)).isoformat())
dates = st.one_of(
    recent, recent,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
                 timezones=offsets).map(datetime.isoformat),
    st.sampled_from([
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z",
        "2024-02-30T00:00:00Z", "2024-01-01T00:00:00+24:00", "2024-01-01T25:00:00Z", "+12345-01-01",
        "yesterday", "", " ", "2024", "20240101T000000Z", "2024-W01-1", "2024-001", "NaN", "-infinity",
        "2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00\x00",
    ]),
    wrong_types,
)
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
                | safe_text)
hostile_scalars = st.sampled_from([10**400, 2**64, -(2**63) - 1, 10**25, float("nan"), float("inf"), -0.0, 1e308,
                                   "\x00", "a\x00", "z" * 40_000])
json_values = st.recursive(json_scalars | hostile_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(text, inner, max_size=3), max_leaves=10)
safe_json = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(safe_text, inner, max_size=3), max_leaves=8)


def deep(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


properties = st.one_of(
    st.dictionaries(safe_text, safe_json, max_size=5),
    st.dictionaries(safe_text, safe_json, max_size=5),
    st.dictionaries(text, json_values, max_size=5),
    st.dictionaries(st.sampled_from(["Revenue", "revenue"]), json_values | st.sampled_from(
        ["12.50", "-3", "1e309", "NaN", "1" + "0" * 31, "abc", " 7 "]), min_size=1),
    st.just({f"k{i}": i for i in range(256)}),
    st.sampled_from([deep(60), deep(70), {"a": deep(200)}, {"k" * 256: 1}, {"": 1}]),
    json_values, wrong_types,
)
valid_event = st.fixed_dictionaries(
    {"identity": safe_text, "name": safe_text},
    optional={"properties": st.dictionaries(safe_text, safe_json, max_size=5), "timestamp": recent,
              "id": safe_text})
hostile_event = st.fixed_dictionaries(
    {}, optional={"identity": text | wrong_types, "name": text | wrong_types, "properties": properties,
                  "timestamp": dates, "id": text | wrong_types, "extra": text})
events = st.one_of(valid_event, valid_event, hostile_event,
                   st.tuples(valid_event, st.sampled_from(["identity", "name", "properties", "timestamp", "id"]),
                             text | dates | properties).map(lambda t: {**t[0], t[1]: t[2]}))

RECORD = """mutation($i: RecordEventInput!) { recordEvent(input: $i) {
  duplicate event { id name identity personId properties revenue timestamp receivedAt } } }"""
RECORD_MANY = "mutation($i: [RecordEventInput!]!) { recordEvents(input: $i) { accepted duplicates } }"
SET = "mutation($i: SetPropertiesInput!) { setProperties(input: $i) { person { id properties identities } } }"
IDENTIFY = "mutation($i: IdentifyInput!) { identify(input: $i) { outcome person { id identities } } }"


# ------------------------------------------------------------------ checks

async def post(http, key: str, query: str, variables) -> tuple[int, dict | str, str]:
    """POST with the variables as Python's json writes them: big integers as
    such, NaN and Infinity as their (non-JSON) tokens."""
    body = json.dumps({"query": query, "variables": {"i": variables}}).encode()
    response = await http.post("/graphql", content=body,
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.text
    assert_no_trace(response.text)
    if response.status_code != 200:
        assert response.text.strip(), "a refusal says why"
        return response.status_code, response.text, response.text
    return 200, response.json(), response.text


def check_errors(errors: list[dict]) -> None:
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        event(f"error {code}")
        assert code == "BAD_USER_INPUT", error
        assert error["message"] and error["message"] != "Unexpected error.", error
        if error.get("path"):  # a resolver's refusal names the input field
            assert error["extensions"].get("field"), error
        else:  # a variable that could not be coerced: the message names it
            assert "$i" in error["message"], error


def same_json(a, b) -> bool:
    """Equal as JSON values. jsonb keeps numbers as decimals and writes an
    integral one without exponent: 4.822273000403267e+16 comes back as
    48222730004032670, the same JSON number (the same double)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b if isinstance(a, int) and isinstance(b, int) else float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def refused(body) -> bool:
    return not isinstance(body, dict) or bool(body.get("errors"))


async def mutate_counted(services, http, project, query: str, variables, *, refusal_has_no_data: bool = False):
    """The mutation posted between two counts of the project: (body, before,
    after) when accepted; None when refused, which must name its errors
    (check_errors) and have written nothing."""
    before = await counts(services, project.id)
    _, body, _ = await post(http, project.read_key, query, variables)
    after = await counts(services, project.id)
    if refused(body):
        if isinstance(body, dict):
            check_errors(body["errors"])
            if refusal_has_no_data:
                assert body["data"] is None
        assert after == before, (variables, body)
        return None
    return body, before, after


# ------------------------------------------------------------------ mutations

@FUZZ
@given(variables=events | wrong_types)
# Found by this test (fixed): an offset that leaves years 1-9999 in UTC was an
# "Unexpected error."; NaN/Infinity/1e309 were stored as null.
@example(variables={"identity": "a", "name": "n", "timestamp": "0001-01-01T00:00:00+01:00"})
@example(variables={"identity": "a", "name": "n", "timestamp": "9999-12-31T23:59:59-05:00"})
@example(variables={"identity": "a", "name": "n", "timestamp": "0001-01-01T00:00:00Z"})
@example(variables={"identity": "a", "name": "n", "properties": {"x": float("nan"), "y": float("inf")}})
@example(variables={"identity": "a", "name": "n", "properties": {"x": 10**25, "Revenue": 10**400}})
@example(variables={"identity": "a", "name": "n", "properties": {"x": deep(70)}})
async def test_fuzz_record_event(services, http, project, variables):
    accepted = await mutate_counted(services, http, project, RECORD, variables, refusal_has_no_data=True)
    if accepted is None:
        return
    body, before, after = accepted
    event("accepted")
    answer = body["data"]["recordEvent"]
    acknowledged = answer["event"]
    row = await services.pool.fetchrow(
        "SELECT name, identity, person_id, properties, revenue, ts FROM events WHERE project_id = $1 AND id = $2",
        project.id, uuid.UUID(acknowledged["id"]))
    assert row is not None
    assert after[0] - before[0] == (0 if answer["duplicate"] else 1)
    assert (row["name"], row["identity"], str(row["person_id"])) == (
        acknowledged["name"], acknowledged["identity"], acknowledged["personId"])
    assert same_json(row["properties"], acknowledged["properties"]), (row["properties"], acknowledged)
    assert row["revenue"] == (None if acknowledged["revenue"] is None else Decimal(acknowledged["revenue"]))
    assert row["ts"] == datetime.fromisoformat(acknowledged["timestamp"])
    if not answer["duplicate"]:  # and it is what was sent
        assert (row["name"], row["identity"]) == (variables["name"], variables["identity"])
        assert same_json(row["properties"], variables.get("properties") or {})


@FUZZ
@given(batch=st.lists(events, max_size=5) | st.just([]) | wrong_types
       | st.just([{"identity": "a", "name": "n"}] * 1001))
async def test_fuzz_record_events_all_or_nothing(services, http, project, batch):
    accepted = await mutate_counted(services, http, project, RECORD_MANY, batch)
    if accepted is None:
        return
    body, before, after = accepted
    event("accepted")
    result = body["data"]["recordEvents"]
    assert result["accepted"] + result["duplicates"] == len(batch)
    assert after[0] - before[0] == result["accepted"]


@FUZZ
@given(kind=st.sampled_from(["set", "identify"]),
       variables=st.one_of(
           st.fixed_dictionaries({"identity": safe_text, "properties": st.dictionaries(safe_text, safe_json, min_size=1,
                                                                                      max_size=4)},
                                 optional={"timestamp": recent}),
           st.fixed_dictionaries({}, optional={"identity": text | wrong_types, "properties": properties,
                                               "timestamp": dates, "anonymousId": text | wrong_types,
                                               "userId": text | wrong_types}),
           st.fixed_dictionaries({"anonymousId": safe_text | text, "userId": safe_text | text}),
       ))
async def test_fuzz_set_properties_and_identify(services, http, project, kind, variables):
    accepted = await mutate_counted(services, http, project, SET if kind == "set" else IDENTIFY, variables)
    if accepted is None:
        return
    body, before, after = accepted
    event(f"accepted {kind}")
    assert after[0] == before[0], "no event is recorded"
    if kind == "set":
        person = body["data"]["setProperties"]["person"]
        assert variables["identity"] in person["identities"]
        assert after[3] - before[3] == len(variables["properties"])
        changes = await services.pool.fetch(
            "SELECT key, value FROM property_changes WHERE project_id = $1 AND person_id = $2"
            " ORDER BY seq DESC LIMIT $3", project.id, uuid.UUID(person["id"]), len(variables["properties"]))
        assert same_json({r["key"]: r["value"] for r in changes}, variables["properties"])
    else:
        person = body["data"]["identify"]["person"]
        assert variables["userId"] in person["identities"]


# ------------------------------------------------------------------ reports

filters = st.fixed_dictionaries(
    {"key": text | wrong_types},
    optional={"op": st.sampled_from(["EQ", "NEQ", "CONTAINS", "STARTS_WITH", "GT", "GTE", "LT", "LTE", "EXISTS",
                                     "NOT_EXISTS", "IN", "LIKE", 3]), "value": json_values | wrong_types})
steps = st.lists(st.fixed_dictionaries({"event": st.sampled_from(["Signed Up", "Purchased"]) | text},
                                       optional={"where": st.lists(filters, max_size=2) | wrong_types}),
                 max_size=4) | st.just([{"event": "a"}] * 21) | wrong_types
ints = st.integers(-5, 200) | st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 10**20]) | wrong_types
periods = st.sampled_from(["HOUR", "DAY", "WEEK", "MONTH", "YEAR", "", 1])
report_inputs = {
    "funnel": st.fixed_dictionaries(
        {"steps": steps, "from": dates, "to": dates},
        optional={"conversionWindowSeconds": ints, "segmentBy": st.fixed_dictionaries(
            {}, optional={"personProperty": text, "firstStepProperty": text, "limit": ints,
                          "baseline": text | wrong_types}) | wrong_types}),
    "cohort": st.fixed_dictionaries(
        {"cohortEvent": text | wrong_types, "returnEvent": text | wrong_types, "from": dates, "to": dates},
        optional={"cohortPeriod": periods, "bucket": periods, "buckets": ints}),
    "revenueReport": st.fixed_dictionaries(
        {"from": dates, "to": dates}, optional={"interval": periods, "sourceProperty": text | wrong_types}),
}
# Mostly well-formed report inputs (so that computing them is exercised), some with one hostile field.
valid_range = st.tuples(st.integers(0, 400), st.integers(1, 400)).map(
    lambda t: {"from": (datetime.now(UTC) - timedelta(days=t[0] + t[1])).isoformat(),
               "to": (datetime.now(UTC) - timedelta(days=t[0]) + timedelta(hours=1)).isoformat()})
valid_filter = st.fixed_dictionaries({"key": st.sampled_from(["plan", "Revenue", "Campaign Source", "x"])},
                                     optional={"op": st.sampled_from(["EQ", "NEQ", "CONTAINS", "STARTS_WITH", "GT",
                                                                      "LT", "EXISTS", "NOT_EXISTS"]),
                                               "value": st.sampled_from(["p1", "ads", 0, 1, "1", "p"])})
valid_reports = {
    "funnel": st.tuples(valid_range, st.fixed_dictionaries(
        {"steps": st.lists(st.fixed_dictionaries({"event": st.sampled_from(["Signed Up", "Purchased"])},
                                                 optional={"where": st.lists(valid_filter, max_size=2)}),
                           min_size=1, max_size=4)},
        optional={"conversionWindowSeconds": st.integers(1, 10**7) | st.none(),
                  "segmentBy": st.sampled_from([{"personProperty": "plan"}, {"firstStepProperty": "plan"},
                                                {"personProperty": "plan", "limit": 1, "baseline": "p1"},
                                                {"firstStepProperty": "Campaign Source", "baseline": "zzz"}])})
    ).map(lambda t: {**t[1], **t[0]}),
    "cohort": st.tuples(valid_range, st.fixed_dictionaries(
        {"cohortEvent": st.sampled_from(["Signed Up", "Purchased"]),
         "returnEvent": st.sampled_from(["Signed Up", "Purchased"])},
        optional={"cohortPeriod": st.sampled_from(["DAY", "WEEK", "MONTH"]),
                  "bucket": st.sampled_from(["DAY", "WEEK", "MONTH"]), "buckets": st.integers(1, 120)})
    ).map(lambda t: {**t[1], **t[0]}),
    "revenueReport": st.tuples(valid_range, st.fixed_dictionaries(
        {}, optional={"interval": st.sampled_from(["DAY", "WEEK", "MONTH"]),
                      "sourceProperty": st.sampled_from(["Campaign Source", "plan", "none"])})
    ).map(lambda t: {**t[1], **t[0]}),
}


REPORT_FIELDS = {
    "funnel": ["steps", "from", "to", "conversionWindowSeconds", "segmentBy"],
    "cohort": ["cohortEvent", "returnEvent", "from", "to", "cohortPeriod", "bucket", "buckets"],
    "revenueReport": ["from", "to", "interval", "sourceProperty"],
}


def report_variables(report: str):
    valid = valid_reports[report]
    one_hostile = st.tuples(valid, st.sampled_from(REPORT_FIELDS[report]),
                            text | dates | ints | wrong_types).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(valid, valid, valid, one_hostile, report_inputs[report], wrong_types)


REPORTS = {
    "funnel": """query($i: FunnelInput!) { funnel(input: $i) { computedAt
        steps { people timeFromPrevious { medianSeconds histogram { upToSeconds people } }
                peopleList(first: 5) { totalCount nodes { id } } }
        segments { value conversionRate comparison { pValue lift } } } }""",
    "cohort": "query($i: CohortInput!) { cohort(input: $i) { rows { start size cells { index people rate } } } }",
    "revenueReport": """query($i: RevenueReportInput!) { revenueReport(input: $i) { total refunds
        series { start total } bySource { value total } topPeople(first: 5) { totalCount nodes { revenue } } } }""",
}


@FUZZ
@given(case=st.sampled_from(sorted(REPORTS)).flatmap(lambda r: st.tuples(st.just(r), report_variables(r))))
# Found by this test (fixed): the first and last instants are -infinity and
# infinity to PostgreSQL (a revenue series from -infinity ran until the report
# timeout); offsets beyond years 1-9999; NUL characters and 10**25 in filters
# and event names reached PostgreSQL ("Unexpected error.").
@example(case=("revenueReport", {"from": "0001-01-01T00:00:00Z", "to": "0001-03-01T00:00:00Z", "interval": "WEEK"}))
@example(case=("revenueReport", {"from": "9999-12-01T00:00:00Z", "to": "9999-12-31T23:59:59.999999Z"}))
@example(case=("funnel", {"steps": [{"event": "a"}], "from": "0001-01-01T00:00:00+01:00", "to": "2024-01-01T00:00:00Z"}))
@example(case=("cohort", {"cohortEvent": "a\x00", "returnEvent": "b", "from": "2024-01-01T00:00:00Z",
                          "to": "2024-02-01T00:00:00Z"}))
@example(case=("revenueReport", {"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z",
                                 "sourceProperty": "a\x00"}))
@example(case=("funnel", {"steps": [{"event": "a", "where": [{"key": "k", "value": 10**25}]},
                                    {"event": "b", "where": [{"key": "k", "op": "IN", "value": ["\x00"]}]}],
                          "from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}))
async def test_fuzz_report_inputs(services, http, project, case):
    report, variables = case
    if not await services.pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id):
        now = datetime.now(UTC)
        await services.ingest.record_events(project.id, [
            EventIn(f"u{i}", name, {"Revenue": i - 2, "plan": f"p{i % 3}", "Campaign Source": "ads"},
                    now - timedelta(days=i, hours=h))
            for i in range(6) for h, name in ((3, "Signed Up"), (1, "Purchased"))])
    before = await counts(services, project.id)
    _, body, _ = await post(http, project.read_key, REPORTS[report], variables)
    if refused(body):
        if isinstance(body, dict):
            check_errors(body["errors"])
    else:
        event(f"report {report} answered")
    assert await counts(services, project.id) == before


# ------------------------------------------------------------------ whole bodies

raw_bodies = st.binary(max_size=2000) | st.sampled_from([
    b"", b"null", b"5", b'"query"', b"[]", b"[1]", b"{}", b'{"query": 5}', b'{"query": null}',
    b'{"query": "{ eventNames }", "variables": []}', b'{"query": "{ eventNames }", "variables": "x"}',
    b'{"query": "{ eventNames }", "extensions": 1}', b'{"query": "{ eventNames }", "operationName": 7}',
    b'{"query": "{ eventNames }", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"query": "{ eventNames }", "x": ' + b"{\"a\":" * 3000 + b"1" + b"}" * 3000 + b"}",
    b'{"query": "{ eventNames }", "x": NaN}', b'{"query": "{ eventNames }", "x": -Infinity}',
    b'{"query": "{ eventNames }", "x": 1e309}', b'{"query": "{ eventNames }", "x": ' + b"9" * 5000 + b"}",
    b'{"query": "{ eventNames }", "x": "\xff\xfe"}', b'{"query": "{ eventNames }", "x": "\\ud800"}',
    b'\xef\xbb\xbf{"query": "{ eventNames }"}', b'{"query": "{ eventNames }"}' + b" " * 10 + b"garbage",
    b'{"query": "' + b"{ a: eventNames " * 400 + b"}" + b'"}',
    b'{"query": "mutation { recordEvent(input: {identity: \\"a\\", name: \\"b\\", properties: {x: '
    + b"[" * 3000 + b"]" * 3000 + b'}}) { event { id } } }"}',
    b'{"query": "mutation { recordEvent(input: {identity: \\"a\\", name: \\"b\\", properties: {x: 1e309}})'
    b' { event { properties } } }"}',
    b'{"query": "subscription { liveEvents { id } }"}',
    b'{"query": "query { __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }"}',
])


@FUZZ
# Found by this test (fixed): each of these was a 500.
@example(raw=b'{"query": "{ eventNames }", "variables": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
         content_type="application/json")
@example(raw=b'{"query": "{ eventNames }", "x": "\xff"}', content_type="application/json")
@example(raw=b"5", content_type="application/json")
@example(raw=b"null", content_type="application/json")
@example(raw=b'{"query": "subscription { liveEvents { id } }"}', content_type="application/json")
@given(raw=raw_bodies, content_type=st.sampled_from(["application/json", "application/json; charset=latin-1",
                                                      "text/plain", "application/graphql", ""]))
async def test_fuzz_graphql_request_bodies(services, http, project, raw, content_type):
    before = await counts(services, project.id)
    headers = {"Authorization": f"Bearer {project.read_key}"} | ({"Content-Type": content_type} if content_type else {})
    response = await http.post("/graphql", content=raw, headers=headers)
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.text
    assert_no_trace(response.text)
    if response.status_code >= 400:
        assert response.text.strip()
    else:
        body = response.json()
        for error in body.get("errors") or []:
            assert error["message"] and error["message"] != "Unexpected error.", error
            assert (error.get("extensions") or {}).get("code") != "INTERNAL_SERVER_ERROR", error
    if response.status_code != 200 or response.json().get("errors"):
        assert await counts(services, project.id) == before


READ_FILTERS = {
    "person(identity)": '{ person(identity: "a\\u0000b") { id } }',
    "events(where.identity)": '{ events(where: {identity: "a\\u0000"}) { nodes { id } } }',
    "events(where.names)": '{ events(where: {names: ["a\\u0000"]}) { nodes { id } } }',
    "events(where.properties value)": '{ events(where: {properties: [{key: "k", value: "\\u0000"}]}) { nodes { id } } }',
    "events(where.properties IN)": '{ events(where: {properties: [{key: "k", op: IN, value: ["\\u0000"]}]}) { nodes { id } } }',
    "events(where.properties big int)": '{ events(where: {properties: [{key: "k", value: 100000000000000000000000}]}) { nodes { id } } }',
    "people(where.didEvent)": '{ people(where: {didEvent: "\\u0000"}) { totalCount } }',
    "people(where.properties)": '{ people(where: {properties: [{key: "k", value: {a: "\\u0000"}}]}) { totalCount } }',
    "Person.events(names)": '{ person(identity: "known") { events(names: ["\\u0000"]) { nodes { id } } } }',
    "Person.propertyHistory(key)": '{ person(identity: "known") { propertyHistory(key: "\\u0000") { value } } }',
    "people(where.from) offset": '{ people(where: {from: "0001-01-01T00:00:00+01:00"}) { totalCount } }',
    "events(where.to) offset": '{ events(where: {to: "9999-12-31T23:59:59-05:00"}) { nodes { id } } }',
}


@pytest.mark.parametrize("name", sorted(READ_FILTERS))
async def test_read_inputs_postgres_cannot_hold_are_bad_input(services, http, project, name):
    """Found by the fuzzing (fixed): these reached PostgreSQL and came back as
    "Unexpected error." (or, for the dates, an OverflowError)."""
    await services.ingest.set_properties(project.id, "known", {"k": 1})
    response = await http.post("/graphql", json={"query": READ_FILTERS[name]},
                               headers={"Authorization": f"Bearer {project.read_key}"})
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    assert errors[0]["message"] != "Unexpected error."
    assert_no_trace(response.text)

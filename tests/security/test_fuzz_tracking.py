"""Property-based fuzzing of the tracking endpoints (/e, /s, /a, /v1/batch)
with hypothesis: random and hostile parameters and bodies (random bytes,
invalid UTF-8, NUL characters, huge values, many keys, deep JSON, wrong
types, NaN/Infinity tokens, 1e309, 10**400, -0, extreme and invalid dates,
broken compression). For every request:

- never a 5xx;
- a refusal (4xx) is JSON naming the problem: `field` and `error`;
- a refusal wrote nothing: the project's events, persons, identities and
  property changes are counted before and after (through `services`);
- an accepted request stored exactly what the server acknowledged.

One project per test function; counts are checked around every example."""
from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote_from_bytes

import httpx
from hypothesis import event, given
from hypothesis import strategies as st

from app.tracking.body import parse_form
from app.tracking.kissmetrics import RESERVED
from tests.support.leaks import FUZZ, assert_no_trace, counts


NOW = int(time.time())

# ------------------------------------------------------------------ strategies

# Text a client can send (no lone surrogates: they cannot be encoded as UTF-8).
chars = st.characters(exclude_categories=("Cs",))
hostile_text = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\t\r\n", "undefined", "null", "NaN", "0", "[object Object]", "%00", "%FF",
    "x" * 255, "x" * 256, "é" * 300, "🎉" * 70, "\u202e", "\ufeff", "Robert'); DROP TABLE events;--",
    "$1", "{{7*7}}", "../../etc/passwd", "<script>", "\\u0000",
])
text = st.text(chars, max_size=30) | hostile_text
big_text = st.sampled_from(["y" * 33_000, "z" * 140_000])
numbers_as_text = st.sampled_from([
    "1e309", "-1e309", "-0", "-0.0", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1" + "0" * 400,
    "1e-400", "1E+30", "1E+31", "0x10", "1_000", "١٢٣", "  42  ", "", " ", "12abc", "9" * 40, "0.1", "-99.99",
])
unix_times = st.sampled_from([
    str(NOW - 3600), str(NOW), f"{NOW - 10}.25", str(NOW + 2 * 86400), "946684799", "946684800", "0", "-1",
    str(NOW * 1000), "99999999999", "1e10", "1e309", "NaN", "Infinity", "-0", "1" + "0" * 400, "", " ",
    "٢٠٠٠٠٠٠٠٠٠", "1700000000", "1.7e9", "yesterday",
]) | st.integers(-10**12, 10**12).map(str)
property_names = st.text(chars, min_size=0, max_size=12) | st.sampled_from(["k" * 255, "k" * 256, "Revenue", "_x", "\x00k"])

safe_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(str.strip)
safe_properties = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
        lambda k: k not in RESERVED), safe_text, max_size=6)
# Mostly well-formed calls (so that acceptance is exercised: what is stored
# must be what was sent), many with one hostile value, some hostile throughout.
valid_km = st.builds(
    lambda p, n, props, when: {**props, "_p": p, "_n": n, **when},
    safe_text, safe_text, safe_properties,
    st.just({}) | st.integers(NOW - 86400 * 365, NOW).map(lambda t: {"_t": str(t), "_d": "1"}),
)
hostile_km = st.fixed_dictionaries({}, optional={
    "_p": text, "_n": text, "_t": unix_times, "_d": st.sampled_from(["1", "0", "", "true", " 1 "]),
    "Revenue": numbers_as_text | text,
}).flatmap(lambda reserved: st.one_of(
    st.dictionaries(property_names, text | numbers_as_text, max_size=6),
    st.dictionaries(property_names, big_text, max_size=1),
    st.just({f"k{i}": "v" for i in range(255)}),
    st.just({f"k{i}": "v" for i in range(256)}),
).map(lambda props: {**props, **reserved}))
one_hostile = st.tuples(valid_km, st.sampled_from(["_p", "_n", "_t", "_d", "Revenue", "note", "k" * 256, "\x00"]),
                        text | numbers_as_text | unix_times | big_text).map(lambda t: {**t[0], t[1]: t[2]})
km_params = st.one_of(valid_km, one_hostile, hostile_km)


def form_encode(params: dict[str, str]) -> bytes:
    return b"&".join(quote_from_bytes(k.encode()).encode() + b"=" + quote_from_bytes(v.encode()).encode()
                     for k, v in params.items())


# ------------------------------------------------------------------ checks

def check_answer(response) -> None:
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: the mix of answers
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        body = response.json()
        assert isinstance(body["field"], str) and body["field"], body
        assert isinstance(body["error"], str) and body["error"], body
        assert body["code"], body
    assert_no_trace(response.text)


async def new_events(services, project_id: uuid.UUID, after_seq: int) -> list:
    return await services.pool.fetch(
        "SELECT seq, identity, name, properties, revenue, ts, idempotency_key FROM events"
        " WHERE project_id = $1 AND seq > $2 ORDER BY seq", project_id, after_seq)


async def last_seq(services, project_id: uuid.UUID) -> int:
    return await services.pool.fetchval(
        "SELECT coalesce(max(seq), 0) FROM events WHERE project_id = $1", project_id)


def km_expected_properties(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k and k not in RESERVED}


@dataclass(frozen=True)
class Accepted:
    """An accepted request: its response, the project's counts around it and
    the last event seq before it."""

    response: httpx.Response
    before: tuple
    after: tuple
    seq: int


async def send_counted(services, project, request: Awaitable[httpx.Response], context) -> Accepted | None:
    """Await `request` between two counts of the project, its answer checked
    (check_answer); None when it was refused, which must have written
    nothing (`context` names the input in the failure)."""
    before = await counts(services, project.id)
    seq = await last_seq(services, project.id)
    response = await request
    check_answer(response)
    after = await counts(services, project.id)
    if response.status_code != 200:
        assert after == before, (context, response.text)
        return None
    return Accepted(response, before, after, seq)


# ------------------------------------------------------------------ /e /s /a

async def send_km(http, path: str, key: str, params: dict[str, str], method: str):
    if method == "GET" and len(form_encode(params)) < 6000:
        return await http.get(path + "?" + form_encode({"_k": key, **params}).decode())
    return await http.post(path, content=form_encode({"_k": key, **params}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})


@FUZZ
@given(params=km_params, method=st.sampled_from(["GET", "POST"]))
async def test_fuzz_kissmetrics_record(services, http, project, params, method):
    sent = await send_counted(services, project, send_km(http, "/e", project.write_key, params, method), params)
    if sent is None:
        return
    assert sent.response.headers["content-type"] == "image/gif"
    stored = await new_events(services, project.id, sent.seq)
    if not stored:  # a Kissmetrics duplicate: (identity, name, _t) seen before, with _d=1
        assert params.get("_d", "").strip() == "1"
        return
    assert len(stored) == 1, stored
    event = stored[0]
    assert (event["identity"], event["name"]) == (params["_p"], params["_n"])
    assert event["properties"] == km_expected_properties(params)
    if "Revenue" in params and params["Revenue"].strip():
        assert event["revenue"] == Decimal(params["Revenue"].strip())


@FUZZ
@given(params=km_params, method=st.sampled_from(["GET", "POST"]))
async def test_fuzz_kissmetrics_set(services, http, project, params, method):
    sent = await send_counted(services, project, send_km(http, "/s", project.write_key, params, method), params)
    if sent is None:
        return
    expected = km_expected_properties(params)
    assert sent.after[0] == sent.before[0], "/s records no event"
    assert sent.after[3] - sent.before[3] == len(expected)
    rows = await services.pool.fetch(
        "SELECT c.key, c.value FROM property_changes c JOIN identities i"
        " ON i.project_id = c.project_id AND i.person_id = c.person_id"
        " WHERE c.project_id = $1 AND i.identity = $2 ORDER BY c.seq DESC LIMIT $3",
        project.id, params["_p"], len(expected))
    assert {r["key"]: r["value"] for r in rows} == expected


@FUZZ
@given(params=km_params, method=st.sampled_from(["GET", "POST"]))
async def test_fuzz_kissmetrics_alias(services, http, project, params, method):
    sent = await send_counted(services, project, send_km(http, "/a", project.write_key, params, method), params)
    if sent is None:
        return
    assert (sent.after[0], sent.after[3]) == (sent.before[0], sent.before[3]), "/a records no event and no property"
    known = await services.pool.fetch(
        "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])",
        project.id, [params["_p"], params["_n"]])
    assert {r["identity"] for r in known} == {params["_p"], params["_n"]}


content_types = st.sampled_from([
    "application/x-www-form-urlencoded", "text/plain", "", "application/json", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded; charset=latin-1", "TEXT/PLAIN", "image/gif",
])
encodings = st.sampled_from([None, None, "gzip", "deflate", "br", "identity", "gzip, gzip", "x-gzip"])
raw_bodies = st.binary(max_size=3000) | st.sampled_from([
    b"_p=a&_n=b", b"_p=a&_n=b&%FF=1", b"_p=a&_n=%C3%28", b"_p=a\x00&_n=b", b"%", b"%%%", b"&&&=&=",
    b"_p=" + b"a" * 300 + b"&_n=b", b"_p=a&_n=b&_t=1e309&_d=1", b"_p=a&_n=b&Revenue=NaN", b"=" * 5000,
    b"_p=a&_n=b&" + b"&".join(b"k%d=v" % i for i in range(300)), b"\xff\xfe\xfd", b"_p=a&_n=b&big=" + b"x" * 200_000,
])


def encode_body(raw: bytes, encoding: str | None) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(raw)
    if encoding == "deflate":
        return zlib.compress(raw)
    if encoding == "gzip, gzip":
        return raw  # an unsupported list of encodings; the body itself does not matter
    return raw


@FUZZ
@given(path=st.sampled_from(["/e", "/s", "/a"]), raw=raw_bodies, content_type=content_types,
       encoding=encodings, corrupt=st.booleans())
async def test_fuzz_kissmetrics_raw_bodies(services, http, project, path, raw, content_type, encoding, corrupt):
    """Random bytes as the form body (the key in the query string)."""
    body = encode_body(raw, encoding)
    if corrupt and encoding in ("gzip", "deflate", "x-gzip") and len(body) > 12:
        body = body[: len(body) // 2]
    headers = {"Content-Type": content_type} if content_type else {}
    if encoding:
        headers["Content-Encoding"] = encoding
    sent = await send_counted(services, project,
                              http.post(f"{path}?_k={project.write_key}", content=body, headers=headers), raw[:100])
    if sent is None:
        return
    # Accepted: it was a form the server could read; what it stored is that form.
    params = parse_form(raw, "body")
    if path == "/e":
        stored = await new_events(services, project.id, sent.seq)
        assert len(stored) <= 1
        if stored:
            assert (stored[0]["identity"], stored[0]["name"]) == (params["_p"], params["_n"])
            assert stored[0]["properties"] == km_expected_properties(params)
    else:
        assert sent.after[0] == sent.before[0]


# ------------------------------------------------------------------ /v1/batch

def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


dates = st.sampled_from([
    iso(datetime.now(timezone.utc) - timedelta(hours=1)), "2024-01-01T00:00:00Z", "2024-01-01T00:00:00",
    "2024-01-01T00:00:00+05:30", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2024-02-30T00:00:00Z",
    "2024-01-01T00:00:00+24:00", "yesterday", "", " ", "2024-13-01", "+12345-01-01", "2024-01-01T25:00:00Z",
]) | st.integers(-10**20, 10**20) | st.none() | st.floats() | st.booleans()

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | text
                | st.sampled_from([10**400, -0.0, 1e308, 2**63, 2**64, -(2**63) - 1, "\x00"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(text, inner, max_size=3), max_leaves=12)
properties = (st.dictionaries(text, json_values, max_size=6)
              | st.dictionaries(st.just("Revenue") | st.just("revenue"), json_values, min_size=1, max_size=2)
              | st.just({f"k{i}": 1 for i in range(256)}) | json_values)
ids = text | st.integers() | st.floats() | st.booleans() | st.none() | st.lists(text, max_size=2) | st.just({"a": 1})
message_ids = st.sampled_from(["m1", "m2", "m3"]) | st.none() | st.integers() | st.just("m" * 300)

safe_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(safe_text, inner, max_size=3),
    max_leaves=8)
recent = st.integers(60, 86400 * 300).map(lambda s: iso(datetime.now(timezone.utc) - timedelta(seconds=s)))
valid_message = st.one_of(
    st.fixed_dictionaries({"type": st.just("track"), "userId": safe_text | st.integers(0, 10**30),
                           "event": safe_text},
                          optional={"anonymousId": safe_text, "properties": st.dictionaries(safe_text, safe_json, max_size=4),
                                    "timestamp": recent, "messageId": message_ids.filter(lambda m: isinstance(m, str))
                                    .filter(lambda m: len(m) < 200)}),
    st.fixed_dictionaries({"type": st.sampled_from(["page", "screen"]), "anonymousId": safe_text},
                          optional={"name": safe_text, "category": safe_text, "timestamp": recent}),
    st.fixed_dictionaries({"type": st.just("identify"), "userId": safe_text},
                          optional={"anonymousId": safe_text, "traits": st.dictionaries(safe_text, safe_json, max_size=3)}),
    st.fixed_dictionaries({"type": st.just("alias"), "userId": safe_text, "previousId": safe_text}),
    st.fixed_dictionaries({"type": st.just("group"), "userId": safe_text, "groupId": safe_text}),
)
hostile_message = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "alias", "page", "screen", "group"])
     | st.sampled_from(["shout", "", "TRACK"]) | st.integers() | st.none()},
    optional={"userId": ids, "anonymousId": ids, "previousId": ids, "event": text | ids, "name": text | ids,
              "category": text | ids, "properties": properties, "traits": properties, "timestamp": dates,
              "sentAt": dates, "messageId": message_ids, "context": json_values, "integrations": json_values})
messages = st.one_of(valid_message, valid_message, valid_message, hostile_message)
batches = st.one_of(
    st.fixed_dictionaries({"batch": st.lists(valid_message, min_size=1, max_size=6)},
                          optional={"sentAt": recent}),
    st.fixed_dictionaries({"batch": st.lists(messages, max_size=6)}, optional={"sentAt": dates}),
    st.fixed_dictionaries({"batch": json_values}),
    json_values,
)
raw_batches = st.sampled_from([
    b'{"batch": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": {"x": NaN}}]}',
    b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": {"x": 1e309}}]}',
    b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": {"x": ' + b"1" * 400 + b"}}]}",
    b'{"batch": [{"type": "track", "userId": "u", "event": "\xff"}]}',
    b'{"batch": [{"type": "track", "userId": "u", "event": "\\ud800"}]}',
    b'{"batch": [{"type": "track", "userId": "u", "event": "e\\u0000"}]}',
    b'{"batch": [], "batch": 5}', b"", b"null", b"[]", b'"batch"', b"\xef\xbb\xbf{}",
    b'{"batch": [' + b",".join([b'{"type": "track", "userId": "u", "event": "e"}'] * 1001) + b"]}",
    b'{"batch": [' + b",".join([b'{"type": "track", "userId": "u%d", "event": "e"}' % i for i in range(1100)]) + b"]}",
    b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": {' + b",".join(
        b'"k%d": %d' % (i, i) for i in range(50_000)) + b"}}]}",
]) | st.binary(max_size=2000)


def planned_records(batch: dict, prefix: str) -> tuple[set, int]:
    """For an accepted batch: the (identity, name) of the events it records,
    and how many are new (a messageId is stored once)."""
    pairs, without_id, with_ids = set(), 0, set()
    for message in batch["batch"]:
        kind = message["type"]
        if kind not in ("track", "page", "screen"):
            continue
        user, anon = message.get("userId"), message.get("anonymousId")
        who = user if user not in (None, "") else anon
        name = message["event"] if kind == "track" else {"page": "Viewed Page", "screen": "Viewed Screen"}[kind]
        message_id = message.get("messageId")
        if message_id in with_ids:
            continue  # stored once: the first message with this id
        pairs.add((who if isinstance(who, str) else str(who), name))
        if message_id is None:
            without_id += 1
        else:
            with_ids.add(message_id)
    return pairs, without_id + len(with_ids)


async def post_batch(http, key: str, content: bytes, encoding: str | None = None):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if encoding:
        headers["Content-Encoding"] = encoding
    return await http.post("/v1/batch", content=content, headers=headers)


@FUZZ
@given(batch=batches, gzipped=st.booleans())
async def test_fuzz_segment_batch(services, http, project, batch, gzipped):
    prefix = uuid.uuid4().hex  # message ids are new in every example
    if isinstance(batch, dict) and isinstance(batch.get("batch"), list):
        for message in batch["batch"]:
            if isinstance(message, dict) and isinstance(message.get("messageId"), str):
                message["messageId"] = prefix + message["messageId"]
    content = json.dumps(batch).encode()  # json: big ints and NaN/Infinity tokens are sent as such
    request = post_batch(http, project.write_key, gzip.compress(content) if gzipped else content,
                         "gzip" if gzipped else None)
    sent = await send_counted(services, project, request, batch)
    if sent is None:
        return
    assert sent.response.json() == {"success": True}
    pairs, new = planned_records(batch, prefix)
    stored = await new_events(services, project.id, sent.seq)
    assert len(stored) == new, (batch, stored)
    assert {(r["identity"], r["name"]) for r in stored} == pairs


@FUZZ
@given(raw=raw_batches, encoding=encodings)
async def test_fuzz_segment_batch_raw_bodies(services, http, project, raw, encoding):
    request = post_batch(http, project.write_key, encode_body(raw, encoding), encoding)
    sent = await send_counted(services, project, request, raw[:200])
    if sent is None:
        return
    _, new = planned_records(json.loads(raw), "")
    assert sent.after[0] - sent.before[0] == new

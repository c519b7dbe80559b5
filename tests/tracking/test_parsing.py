"""The pure parts of the tracking transport: form decoding, Kissmetrics times
and ids, Segment plans and clock-skew correction, decompression, field names."""
from __future__ import annotations

import gzip
import zlib
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import BadInput
from app.tracking import body, kissmetrics, segment
from app.tracking.errors import BodyRefused, protocol_field

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_form_decoding_is_strict_utf8():
    assert body.parse_form(b"a=1&b=x+y%2Bz&&=skipped&c&a=2&%C3%A9t%C3%A9=%E2%9C%93", "q") == {
        "a": "2", "b": "x y+z", "c": "", "été": "✓"}
    with pytest.raises(BadInput) as caught:
        body.parse_form(b"ok=1&bad=%E9", "query string")
    assert caught.value.field == "bad"
    with pytest.raises(BadInput) as caught:
        body.parse_form(b"%FF=1", "body")
    assert caught.value.field == "body"


def _form_pair_by_pair(raw: bytes, where: str) -> dict[str, str]:
    """The reading parse_form's one-call fast path must equal: each name and
    value decoded on its own."""
    params: dict[str, str] = {}
    for pair in raw.split(b"&"):
        name_raw, _, value_raw = pair.partition(b"=")
        try:
            name = unquote_to_bytes(name_raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(where, "not valid UTF-8") from None
        if name:
            try:
                params[name] = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(name, "not valid UTF-8") from None
    return params


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"b", b"=", b"&", b"+", b"%", b"%2", b"%26", b"%3D", b"%3d", b"%41", b"%C3",
                                 b"%A9", b"%e2%9c%93", b"\xc3\xa9", b"\xff", b"2", b"F"]), max_size=12).map(b"".join))
def test_form_decoding_at_once_equals_pair_by_pair(raw):
    try:
        expected = _form_pair_by_pair(raw, "q")
    except BadInput as exc:
        with pytest.raises(BadInput) as got:
            body.parse_form(raw, "q")
        assert (got.value.field, got.value.message) == (exc.field, exc.message)
    else:
        assert body.parse_form(raw, "q") == expected


def test_unix_time_and_event_ids():
    at, text = kissmetrics.unix_time("1700000000")
    assert at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc) and text == "1700000000"
    assert kissmetrics.unix_time("1700000000.0")[1] == "1700000000"
    assert kissmetrics.unix_time(1700000000)[1] == "1700000000"
    assert kissmetrics.unix_time("1700000000.250")[1] == "1700000000.25"
    # Whole seconds take a shortcut past Decimal: the same instant and text as the long way.
    for whole in ("0", "007", " 1700000000 ", "99999999999", "0000000000000001700000000"):
        assert kissmetrics.unix_time(whole) == kissmetrics.unix_time(whole.strip() + ".0")
    for bad in ("100000000000", "00100000000000"):
        with pytest.raises(BadInput, match="too large"):
            kissmetrics.unix_time(bad)
    for bad in ("", "abc", "-1", "NaN", "1e400", True, None):
        with pytest.raises(BadInput):
            kissmetrics.unix_time(bad)
    one = kissmetrics.event_id("bob", "Signed Up", "1700000000")
    assert one == kissmetrics.event_id("bob", "Signed Up", "1700000000")
    assert one.startswith("km:") and len(one) <= 255
    # No ambiguity from separators inside the values.
    assert kissmetrics.event_id("a", "b c", "1") != kissmetrics.event_id("a b", "c", "1")


def test_kissmetrics_event_from_params():
    event = kissmetrics.event_from({"_k": "k", "_p": "bob", "_n": "Paid", "_t": "1700000000", "_d": "1",
                                    "Revenue": "9.90", "_c": "x"})
    assert event.properties == {"Revenue": "9.90", "_c": "x"}
    assert event.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert event.id == kissmetrics.event_id("bob", "Paid", "1700000000")
    plain = kissmetrics.event_from({"_p": "bob", "_n": "Paid", "_t": "1700000000", "_d": "0"})
    assert plain.timestamp is None and plain.id is None


def test_segment_skew_correction():
    timestamp = datetime(2024, 5, 2, 12, 0, 0, tzinfo=timezone.utc)  # the device is a day fast
    sent = timestamp + timedelta(seconds=30)
    assert segment.corrected_time(timestamp, sent, RECEIVED) == RECEIVED - timedelta(seconds=30)
    assert segment.corrected_time(timestamp, None, RECEIVED) == timestamp
    assert segment.corrected_time(None, sent, RECEIVED) is None


def test_segment_plan_for_each_message_type():
    track = segment.plan_message({"userId": "u", "anonymousId": "a", "event": "E", "messageId": "m",
                                  "properties": {"revenue": 5}}, "track", RECEIVED)
    assert [(l.left, l.right, l.alias) for l in track.links] == [("a", "u", False)]
    (record,) = track.records
    assert (record.event.identity, record.event.name, record.event.id) == ("u", "E", "m")
    assert record.event.properties == {"revenue": 5, "Revenue": 5}

    only_anon = segment.plan_message({"anonymousId": 7, "event": "E"}, "track", RECEIVED)
    assert only_anon.links == [] and only_anon.records[0].event.identity == "7"

    identify = segment.plan_message({"userId": "u", "traits": {"plan": "pro"}}, "identify", RECEIVED)
    assert [(l.left, l.right) for l in identify.links] == [("u", "u")]  # names a known person
    assert identify.traits[0].identity == "u" and identify.traits[0].traits == {"plan": "pro"}

    alias = segment.plan_message({"anonymousId": "a", "userId": "u"}, "alias", RECEIVED)
    assert [(l.left, l.right, l.alias) for l in alias.links] == [("a", "u", True)]

    page = segment.plan_message({"userId": "u", "name": "Home", "properties": {"url": "/"}}, "page", RECEIVED)
    assert page.records[0].event.name == "Viewed Page"
    assert page.records[0].event.properties == {"url": "/", "name": "Home"}

    group = segment.plan_message({"userId": "u", "groupId": "g"}, "group", RECEIVED)
    assert (group.links, group.records, group.traits) == ([], [], [])


def test_segment_batch_uses_the_batch_sent_at_and_names_fields_by_index():
    stamp = "2024-05-01T11:00:00Z"
    plan = segment.plan_batch({"sentAt": "2024-05-01T11:00:10Z",
                               "batch": [{"type": "track", "userId": "u", "event": "E", "timestamp": stamp}]},
                              RECEIVED)
    assert plan.records[0].event.timestamp == RECEIVED - timedelta(seconds=10)
    with pytest.raises(BadInput) as caught:
        segment.check(segment.plan_batch({"batch": [{"type": "track", "userId": "u", "event": "E"},
                                                    {"type": "track", "userId": "u", "event": "x" * 300}]},
                                         RECEIVED), RECEIVED)
    assert caught.value.field == "batch[1].event"


def test_decompression_caps_and_formats():
    data = b'{"a": 1}'
    assert body.decompress(gzip.compress(data), "gzip", 1000) == data
    assert body.decompress(gzip.compress(data) + gzip.compress(data), "gzip", 1000) == data + data
    assert body.decompress(zlib.compress(data), "deflate", 1000) == data
    assert body.decompress(data, "identity", 1000) == data
    with pytest.raises(BodyRefused) as caught:
        body.decompress(gzip.compress(b"x" * 5000), "gzip", 1000)
    assert caught.value.status == 413
    with pytest.raises(BodyRefused) as caught:
        body.decompress(data, "br", 1000)
    assert caught.value.status == 415


def test_protocol_field_names():
    names = {"input.properties": "properties", "input.properties.Revenue": "Revenue", "input.name": "_n"}
    assert protocol_field("input.properties.Revenue", names) == "Revenue"
    assert protocol_field("input.properties", names) == "properties"
    assert protocol_field("input.name", names) == "_n"
    assert protocol_field("input.nameless", names) == "input.nameless"
    assert protocol_field("input[3].name", {"input[3]": "batch[7]"}) == "batch[7].name"

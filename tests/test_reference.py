"""Hand-computed cases for tests/support/reference.py, the oracle of DESIGN.md §5.

Every expected number below is worked out by hand in the comments, so that the
oracle the SQL is compared against is itself checked against the text.
2024-01-01 is a Monday.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tests.support.reference import (
    Ev,
    PropSet,
    cohort,
    current_properties,
    funnel,
    lifecycle,
    make_event,
    matches_filter,
    paths,
    people_filter,
    period_end,
    period_start,
    revenue,
    stickiness,
    trends,
)

UTC = timezone.utc


def T(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 1, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Log:
    """Builds events and property sets with increasing receive order (seq)."""

    def __init__(self) -> None:
        self.events: list[Ev] = []
        self.propsets: list[PropSet] = []
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def ev(self, pid: str, name: str, t: datetime, **props: Any) -> Ev:
        e = make_event(self._next(), pid, name, t, props)
        self.events.append(e)
        return e

    def set(self, pid: str, key: str, value: Any, at: datetime) -> None:
        self.propsets.append(PropSet(self._next(), pid, key, value, at))

    def props(self) -> dict[str, dict[str, Any]]:
        return current_properties(self.propsets)


STEPS_AB = [{"event": "A"}, {"event": "B"}]
WEEK = (T(1), T(8))


def _hist(*counts: int) -> list[dict[str, Any]]:
    bounds: list[float | None] = [60.0, 600.0, 3600.0, 86400.0, 604800.0, 2592000.0, None]
    return [{"upToSeconds": b, "people": c} for b, c in zip(bounds, counts, strict=True)]


# ======================================================================= periods, properties


def test_periods() -> None:
    t = datetime(2024, 1, 3, 15, 42, 7, 123, tzinfo=UTC)  # a Wednesday
    assert period_start(t, "HOUR") == T(3, 15)
    assert period_end(t, "HOUR") == T(3, 16)
    assert period_start(t, "DAY") == T(3)
    assert period_end(t, "DAY") == T(4)
    assert period_start(t, "WEEK") == T(1)  # Monday
    assert period_end(t, "WEEK") == T(8)
    assert period_start(T(7, 23), "WEEK") == T(1)  # Sunday still in Monday's week
    assert period_start(T(8), "WEEK") == T(8)
    assert period_start(t, "MONTH") == T(1)
    assert period_end(T(31, 23, month=12, year=2023), "MONTH") == T(1)
    assert period_end(T(15, month=2), "MONTH") == T(1, month=3)
    # Other offsets are converted to UTC first: Jan 1 01:30+02:00 is Dec 31 23:30 UTC.
    plus2 = datetime(2024, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_start(plus2, "DAY") == T(31, month=12, year=2023)


def test_current_properties_latest_timestamp_then_later_received() -> None:
    log = Log()
    log.set("p1", "plan", "pro", T(2))
    log.set("p1", "plan", "free", T(1))  # received later but older: loses
    log.set("p1", "seats", 3, T(1))
    log.set("p1", "seats", 5, T(1))  # same time, received later: wins
    log.set("p2", "plan", None, T(1))
    assert log.props() == {"p1": {"plan": "pro", "seats": 5}, "p2": {"plan": None}}


def test_make_event_revenue() -> None:
    assert make_event(1, "p", "Buy", T(1), {"Revenue": "19.99"}).revenue == Decimal("19.99")
    assert make_event(2, "p", "Buy", T(1), {"Revenue": -5}).revenue == Decimal(-5)
    assert make_event(3, "p", "Buy", T(1), {}).revenue is None
    with pytest.raises(ValueError):
        make_event(4, "p", "Buy", T(1), {"Revenue": "lots"})


# ======================================================================= filters


@pytest.mark.parametrize(
    ("props", "flt", "expected"),
    [
        ({"plan": "pro"}, {"key": "plan", "value": "pro"}, True),  # op defaults to EQ
        ({"plan": "pro"}, {"key": "plan", "op": "EQ", "value": "Pro"}, False),
        ({"n": 1}, {"key": "n", "op": "EQ", "value": "1"}, True),  # text forms: "1" == "1"
        ({"n": "1"}, {"key": "n", "op": "EQ", "value": 1}, True),
        ({"b": True}, {"key": "b", "op": "EQ", "value": "true"}, True),
        ({"x": None}, {"key": "x", "op": "EQ", "value": None}, True),
        ({}, {"key": "x", "op": "EQ", "value": None}, False),
        ({}, {"key": "plan", "op": "NEQ", "value": "pro"}, True),  # missing: not equal
        ({"plan": "pro"}, {"key": "plan", "op": "NEQ", "value": "pro"}, False),
        ({"plan": "pro"}, {"key": "plan", "op": "NEQ", "value": "free"}, True),
        ({"url": "https://x.com/pricing"}, {"key": "url", "op": "CONTAINS", "value": "pricing"}, True),
        ({"url": "https://x.com/pricing"}, {"key": "url", "op": "CONTAINS", "value": "Pricing"}, False),
        ({}, {"key": "url", "op": "CONTAINS", "value": ""}, False),
        ({"n": 123}, {"key": "n", "op": "CONTAINS", "value": 2}, True),
        ({"url": "https://x.com"}, {"key": "url", "op": "STARTS_WITH", "value": "https"}, True),
        ({"url": "https://x.com"}, {"key": "url", "op": "STARTS_WITH", "value": "x.com"}, False),
        ({"n": 5}, {"key": "n", "op": "GT", "value": 3}, True),
        ({"n": "10"}, {"key": "n", "op": "GT", "value": "9"}, True),  # numbers, not text
        ({"n": "1e3"}, {"key": "n", "op": "GTE", "value": 1000}, True),
        ({"n": "2.50"}, {"key": "n", "op": "LTE", "value": "2.5"}, True),
        ({"n": -1}, {"key": "n", "op": "LT", "value": "-0.5"}, True),
        ({"n": 3}, {"key": "n", "op": "LT", "value": 3}, False),
        ({"n": True}, {"key": "n", "op": "GT", "value": 0}, False),  # a bool is no number
        ({"n": 1}, {"key": "n", "op": "LT", "value": True}, False),
        ({"n": "abc"}, {"key": "n", "op": "GT", "value": 1}, False),
        ({"n": " 5"}, {"key": "n", "op": "GT", "value": 1}, False),  # strict numeric strings
        ({"n": "NaN"}, {"key": "n", "op": "GT", "value": 1}, False),
        ({"n": None}, {"key": "n", "op": "GT", "value": 0}, False),
        ({}, {"key": "n", "op": "LT", "value": 0}, False),
        ({"x": None}, {"key": "x", "op": "EXISTS"}, True),
        ({}, {"key": "x", "op": "EXISTS"}, False),
        ({"x": None}, {"key": "x", "op": "NOT_EXISTS"}, False),
        ({}, {"key": "x", "op": "NOT_EXISTS"}, True),
        ({"plan": "pro"}, {"key": "plan", "op": "IN", "value": ["free", "pro"]}, True),
        ({"n": 1}, {"key": "n", "op": "IN", "value": ["1", "2"]}, True),
        ({"plan": "pro"}, {"key": "plan", "op": "IN", "value": "pro"}, False),  # not a list
        ({}, {"key": "plan", "op": "IN", "value": [None]}, False),
    ],
)
def test_filters(props: dict[str, Any], flt: dict[str, Any], expected: bool) -> None:
    assert matches_filter(props, flt) is expected


def test_step_filters_and_exact_names() -> None:
    log = Log()
    log.ev("p1", "Viewed", T(1, 10), page="/home")
    log.ev("p1", "Bought", T(1, 11))
    log.ev("p2", "Viewed", T(1, 10), page="/pricing")
    log.ev("p2", "bought", T(1, 11))  # names are case-sensitive
    log.ev("p3", "Viewed", T(1, 10), page="/pricing")
    log.ev("p3", "Bought", T(1, 12))
    steps = [{"event": "Viewed", "where": [{"key": "page", "op": "EQ", "value": "/pricing"}]}, {"event": "Bought"}]
    r = funnel(log.events, {}, steps, *WEEK)
    assert [s["people"] for s in r["steps"]] == [2, 1]
    assert r["steps"][0]["reached"] == ["p2", "p3"]
    assert r["steps"][1]["reached"] == ["p3"]
    assert r["steps"][1]["dropped"] == ["p2"]


# ======================================================================= funnel


def test_same_second_steps() -> None:
    log = Log()
    log.ev("p1", "B", T(1, 10))  # received first, same second as its A: still counts
    log.ev("p1", "A", T(1, 10))
    log.ev("p2", "B", T(1, 9, 59, 59))  # one second before A: does not
    log.ev("p2", "A", T(1, 10))
    log.ev("p3", "A", T(1, 10))
    log.ev("p3", "B", T(1, 10, 0, 5))
    s0, s1 = funnel(log.events, {}, STEPS_AB, *WEEK)["steps"]
    assert s0 == {
        "index": 0,
        "event": "A",
        "people": 3,
        "droppedOff": 0,
        "conversionFromPrevious": 1.0,
        "conversionFromStart": 1.0,
        "timeFromPrevious": None,
        "reached": ["p1", "p2", "p3"],  # all at 10:00:00, then by id
        "dropped": [],
    }
    assert s1 == {
        "index": 1,
        "event": "B",
        "people": 2,
        "droppedOff": 1,
        "conversionFromPrevious": 2 / 3,
        "conversionFromStart": 2 / 3,
        # times 0 s and 5 s: median 2.5, mean 2.5, p90 at index 0.9: 0 + 0.9·5 = 4.5
        "timeFromPrevious": {
            "count": 2,
            "medianSeconds": 2.5,
            "meanSeconds": 2.5,
            "p90Seconds": 4.5,
            "histogram": _hist(2, 0, 0, 0, 0, 0, 0),
        },
        "reached": ["p1", "p3"],  # 10:00:00, 10:00:05
        "dropped": ["p2"],
    }


def test_repeated_step_events_used_once_per_chain() -> None:
    log = Log()
    log.ev("p1", "A", T(1, 10))  # one A: only step 0
    log.ev("p2", "A", T(1, 10))
    log.ev("p2", "A", T(1, 11))  # second A: step 1, 3600 s later
    log.ev("p3", "A", T(1, 12))
    log.ev("p3", "A", T(1, 12))  # same second: step 1, 0 s
    log.ev("p4", "A", T(1, 9))
    log.ev("p4", "A", T(1, 9, 0, 30))
    log.ev("p4", "A", T(1, 9, 1))
    r = funnel(log.events, {}, [{"event": "A"}, {"event": "A"}], *WEEK)
    s0, s1 = r["steps"]
    assert (s0["people"], s1["people"], s1["droppedOff"]) == (4, 3, 1)
    assert s0["reached"] == ["p4", "p1", "p2", "p3"]  # 09:00, 10:00, 10:00, 12:00
    assert s1["reached"] == ["p4", "p2", "p3"]  # 09:00:30, 11:00, 12:00
    assert s1["dropped"] == ["p1"]
    # times 30, 3600, 0: sorted 0, 30, 3600; median 30; p90 index 1.8: 30 + 0.8·3570
    assert s1["timeFromPrevious"] == {
        "count": 3,
        "medianSeconds": 30.0,
        "meanSeconds": 1210.0,
        "p90Seconds": pytest.approx(2886.0),
        "histogram": _hist(2, 0, 1, 0, 0, 0, 0),
    }
    # A, A, A: p2 and p3 have only two A's each, p4 three.
    r3 = funnel(log.events, {}, [{"event": "A"}] * 3, *WEEK)
    assert [s["people"] for s in r3["steps"]] == [4, 3, 1]
    assert r3["steps"][2]["reached"] == ["p4"]
    assert r3["steps"][2]["dropped"] == ["p2", "p3"]  # reached step 1 at 11:00, 12:00


def test_window_only_a_later_start_satisfies() -> None:
    log = Log()
    log.ev("p1", "A", T(1, 10), v="first")
    log.ev("p1", "A", T(1, 12), v="second")
    log.ev("p1", "B", T(1, 12, 30))
    log.ev("p2", "A", T(1, 11), v="other")
    log.ev("p2", "B", T(1, 11, 10))
    log.ev("p3", "A", T(1, 13), v="edge")
    log.ev("p3", "B", T(1, 14))  # exactly t0 + window: inside
    log.ev("p4", "A", T(1, 13), v="late")
    log.ev("p4", "B", T(1, 14, 0, 1))  # one second past the window
    seg = {"firstStepProperty": "v", "limit": 10}

    r = funnel(log.events, {}, STEPS_AB, *WEEK, window_seconds=3600, segment_by=seg)
    s0, s1 = r["steps"]
    assert (s0["people"], s1["people"]) == (4, 3)
    # p1's chain is its 12:00 start (the 10:00 start reaches only level 1).
    assert s0["reached"] == ["p2", "p1", "p3", "p4"]  # 11:00, 12:00, 13:00, 13:00
    assert s1["reached"] == ["p2", "p1", "p3"]  # 11:10, 12:30, 14:00
    assert s1["dropped"] == ["p4"]
    # times 600, 1800, 3600: median 1800, mean 2000, p90 index 1.8: 1800 + 0.8·1800
    t = s1["timeFromPrevious"]
    assert (t["count"], t["medianSeconds"], t["meanSeconds"]) == (3, 1800.0, 2000.0)
    assert t["p90Seconds"] == pytest.approx(3240.0)
    assert t["histogram"] == _hist(0, 1, 2, 0, 0, 0, 0)
    # firstStepProperty reads the chain's start: "second", not "first".
    assert [s["value"] for s in r["segments"]] == ["edge", "late", "other", "second"]

    # Without a window the earliest start is best: p1 starts at 10:00, 9000 s to B.
    r = funnel(log.events, {}, STEPS_AB, *WEEK, segment_by=seg)
    s0, s1 = r["steps"]
    assert (s0["people"], s1["people"]) == (4, 4)
    assert s0["reached"] == ["p1", "p2", "p3", "p4"]
    # times 9000, 600, 3600, 3601: (0, 60], (60, 600], (600, 3600], (3600, 86400] ×2
    assert s1["timeFromPrevious"]["histogram"] == _hist(0, 1, 1, 2, 0, 0, 0)
    assert s1["timeFromPrevious"]["meanSeconds"] == (9000 + 600 + 3600 + 3601) / 4
    assert [s["value"] for s in r["segments"]] == ["edge", "first", "late", "other"]


def test_funnel_range_bounds() -> None:
    log = Log()
    log.ev("p1", "A", T(1))  # exactly `from`: a start
    log.ev("p1", "B", T(8))  # exactly `to`: outside
    log.ev("p2", "A", T(31, 23, month=12, year=2023))  # before `from`: no start
    log.ev("p2", "B", T(2))
    log.ev("p3", "B", T(1, 1))
    log.ev("p3", "A", T(1, 2))  # B before A does not count
    r = funnel(log.events, {}, STEPS_AB, *WEEK)
    assert [s["people"] for s in r["steps"]] == [2, 0]
    assert r["steps"][1]["timeFromPrevious"] is None
    assert r["steps"][1]["dropped"] == ["p1", "p3"]
    assert r["steps"][1]["conversionFromPrevious"] == 0.0


def test_empty_range() -> None:
    log = Log()
    log.ev("p1", "A", T(2))
    log.ev("p1", "B", T(2, 1))
    log.set("p1", "plan", "pro", T(1))
    for frm, to in [(T(3), T(3)), (T(10), T(11)), (T(5), T(3))]:
        r = funnel(log.events, log.props(), STEPS_AB, frm, to, segment_by={"personProperty": "plan"})
        assert r["segments"] == []
        for s in r["steps"]:
            assert (s["people"], s["droppedOff"]) == (0, 0)
            assert (s["conversionFromPrevious"], s["conversionFromStart"]) == (0.0, 0.0)
            assert (s["timeFromPrevious"], s["reached"], s["dropped"]) == (None, [], [])
    assert funnel(log.events, {}, [], *WEEK) == {"steps": [], "segments": []}

    empty = revenue(log.events, log.propsets, T(3), T(3), "DAY")
    assert empty == {
        "total": Decimal(0),
        "gross": Decimal(0),
        "refunds": Decimal(0),
        "payingPeople": 0,
        "averageRevenuePerPayingPerson": Decimal("0.00"),
        "series": [],
        "bySource": [],
        "topPeople": [],
    }
    assert cohort(log.events, "A", "B", T(3), T(3), "DAY", "DAY", 3, T(20)) == []


def test_segments_fold_into_null_with_limit() -> None:
    log = Log()
    # plan: pro ×3, free ×2, team ×2, enterprise ×1, unset ×1, JSON null ×1, 1 (a number) ×1
    plans: list[tuple[str, Any, bool]] = [
        ("a1", "pro", True), ("a2", "pro", True), ("a3", "pro", False),
        ("b1", "free", True), ("b2", "free", False),
        ("c1", "team", False), ("c2", "team", False),
        ("d1", "enterprise", True),
        ("e1", None, False),
        ("f1", 1, False),
        ("g1", "unset", False),
    ]  # fmt: skip
    for pid, plan, converts in plans:
        if plan != "unset":
            log.set(pid, "plan", plan, T(1))
        log.ev(pid, "A", T(2))
        if converts:
            log.ev(pid, "B", T(3))
    props = log.props()

    def seg(limit: int, baseline: str | None = None) -> list[dict[str, Any]]:
        by = {"personProperty": "plan", "limit": limit, "baseline": baseline}
        return funnel(log.events, props, STEPS_AB, *WEEK, segment_by=by)["segments"]

    # limit 2: pro (3) and free (2, ties with team: value ascending) keep their own
    # segment; team ×2, enterprise, "1", JSON null and unset fold into null (6 people).
    s = seg(2)
    assert [(x["value"], x["steps"][0]["people"], x["steps"][1]["people"]) for x in s] == [
        (None, 6, 1),
        ("pro", 3, 2),
        ("free", 2, 1),
    ]
    assert [x["conversionRate"] for x in s] == [1 / 6, 2 / 3, 1 / 2]
    assert s[0]["steps"][0]["reached"] == ["c1", "c2", "d1", "e1", "f1", "g1"]
    # The default baseline is the first segment, here null.
    assert s[0]["comparison"] is None
    assert s[1]["comparison"]["baseline"] is None
    assert s[1]["comparison"]["lift"] == pytest.approx((2 / 3 - 1 / 6) / (1 / 6))

    # limit 4: pro, free, team (2) and then by value "1" < "enterprise" (1 each):
    # null keeps enterprise, JSON null and unset (3). Equal counts: value ascending,
    # null last.
    s = seg(4)
    assert [(x["value"], x["steps"][0]["people"]) for x in s] == [
        ("pro", 3),
        (None, 3),
        ("free", 2),
        ("team", 2),
        ("1", 1),
    ]
    assert s[3]["conversionRate"] == 0.0

    # limit 0: everyone in null, the only segment and its own baseline.
    s = seg(0)
    assert [(x["value"], x["steps"][0]["people"], x["comparison"]) for x in s] == [(None, 11, None)]

    # A baseline that was folded into null names no segment: no comparisons at all.
    s = seg(2, baseline="team")
    assert [x["comparison"] for x in s] == [None, None, None]
    s = seg(2, baseline="pro")
    assert s[1]["comparison"] is None
    assert s[0]["comparison"]["baseline"] == "pro"


def test_baseline_comparison_by_hand() -> None:
    log = Log()
    # variant a: 4 people, 1 converts; variant b: 4 people, 3 convert.
    for i in range(4):
        for variant, converted in (("a", i < 1), ("b", i < 3)):
            pid = f"{variant}{i}"
            log.set(pid, "variant", variant, T(1))
            log.ev(pid, "A", T(2, i))
            if converted:
                log.ev(pid, "B", T(2, i, 30))
    props = log.props()
    by = {"personProperty": "variant", "limit": 10, "baseline": "a"}
    a, b = funnel(log.events, props, STEPS_AB, *WEEK, segment_by=by)["segments"]
    assert (a["value"], a["conversionRate"], a["comparison"]) == ("a", 0.25, None)
    assert (b["value"], b["conversionRate"]) == ("b", 0.75)
    c = b["comparison"]
    # lift = (0.75 − 0.25) / 0.25 = 2. Pooled rate 4/8 = 0.5;
    # se = √(0.5·0.5·(1/4 + 1/4)) = √0.125; z = 0.5/√0.125 = √2; p = erfc(√2/√2) = erfc(1).
    # P(Beta(4,2) > Beta(2,4)) by Evan Miller's sum (α_B = 4 terms, each
    # B(2+i, 6) / ((2+i) · B(1+i, 2) · B(2, 4))): 2/7 + 5/14 + 5/21 + 5/252·... = 113/126.
    assert c["baseline"] == "a"
    assert c["lift"] == pytest.approx(2.0)
    assert c["zScore"] == pytest.approx(math.sqrt(2))
    assert c["pValue"] == pytest.approx(math.erfc(1))  # 0.1573
    assert c["probabilityToBeatBaseline"] == pytest.approx(113 / 126, abs=1e-12)
    assert c["significant"] is False

    # Against b: lift (0.25 − 0.75)/0.75 = −2/3, z = −√2, P = 1 − 113/126 = 13/126.
    by["baseline"] = "b"
    a, b = funnel(log.events, props, STEPS_AB, *WEEK, segment_by=by)["segments"]
    assert b["comparison"] is None
    assert a["comparison"]["lift"] == pytest.approx(-2 / 3)
    assert a["comparison"]["zScore"] == pytest.approx(-math.sqrt(2))
    assert a["comparison"]["probabilityToBeatBaseline"] == pytest.approx(13 / 126, abs=1e-12)

    # Equal sizes, no baseline: the first segment by value ("a") is the baseline.
    by["baseline"] = None
    a, b = funnel(log.events, props, STEPS_AB, *WEEK, segment_by=by)["segments"]
    assert a["comparison"] is None and b["comparison"]["baseline"] == "a"


def test_baseline_comparison_significant() -> None:
    log = Log()
    # 100 people per variant; 20 of "b" convert against 10 of "a".
    for i in range(100):
        for variant, converted in (("a", i < 10), ("b", i < 20)):
            pid = f"{variant}{i:03d}"
            log.set(pid, "variant", variant, T(1))
            log.ev(pid, "A", T(2))
            if converted:
                log.ev(pid, "B", T(3))
    by = {"personProperty": "variant", "baseline": "a"}
    a, b = funnel(log.events, log.props(), STEPS_AB, *WEEK, segment_by=by)["segments"]
    c = b["comparison"]
    # pooled 0.15; se = √(0.15·0.85·0.02) = 0.0504975; z = 0.1/se = 1.980295;
    # p = erfc(1.980295/√2) = 0.047670 < 0.05.
    assert c["lift"] == pytest.approx(1.0)
    assert c["zScore"] == pytest.approx(1.980295, abs=1e-6)
    assert c["pValue"] == pytest.approx(0.047670, abs=1e-6)
    assert c["significant"] is True
    # ∫ f_Beta(21,81)(p) · F_Beta(11,91)(p) dp by numerical quadrature: 0.975173.
    assert c["probabilityToBeatBaseline"] == pytest.approx(0.9751730331528735, abs=1e-9)


# ======================================================================= cohort


def test_cohort_incomplete_buckets() -> None:
    log = Log()
    log.ev("p1", "Signed Up", T(1, 10))
    log.ev("p1", "Visit", T(1, 9))  # before t₀: ignored
    log.ev("p1", "Visit", T(2, 9))  # [Jan 1 10:00, Jan 2 10:00): cell 0
    log.ev("p1", "Visit", T(3, 11))  # [Jan 3 10:00, Jan 4 10:00): cell 2
    log.ev("p2", "Signed Up", T(1, 22))
    log.ev("p2", "Visit", T(2, 23))  # [Jan 2 22:00, Jan 3 22:00): cell 1
    log.ev("p2", "Visit", T(3, 21, 59, 59))  # cell 1 again: still one person
    log.ev("p3", "Signed Up", T(31, 12, month=12, year=2023))  # first ever is before `from`
    log.ev("p3", "Signed Up", T(1, 12))
    log.ev("p3", "Visit", T(1, 13))
    log.ev("p4", "Signed Up", T(2, 8))
    log.ev("p5", "Signed Up", T(8))  # t₀ = `to`: outside
    rows = cohort(log.events, "Signed Up", "Visit", *WEEK, "DAY", "DAY", 4, computed_at=T(4, 12))
    # Row Jan 1 ends Jan 2 00:00: cell n is complete when Jan 2 + (n+1) days ≤ Jan 4 12:00.
    assert rows == [
        {
            "start": T(1),
            "size": 2,
            "cells": [
                {"index": 0, "people": 1, "rate": 0.5, "complete": True},
                {"index": 1, "people": 1, "rate": 0.5, "complete": True},
                {"index": 2, "people": 1, "rate": 0.5, "complete": False},
                {"index": 3, "people": 0, "rate": 0.0, "complete": False},
            ],
        },
        {
            "start": T(2),
            "size": 1,
            "cells": [
                {"index": 0, "people": 0, "rate": 0.0, "complete": True},  # Jan 4 ≤ Jan 4 12:00
                {"index": 1, "people": 0, "rate": 0.0, "complete": False},
                {"index": 2, "people": 0, "rate": 0.0, "complete": False},
                {"index": 3, "people": 0, "rate": 0.0, "complete": False},
            ],
        },
    ]


def test_cohort_return_event_is_cohort_event() -> None:
    log = Log()
    log.ev("p1", "Login", T(1, 10))
    log.ev("p1", "Login", T(9, 10))  # exactly t₀ + 8 days: cell 1 of WEEK buckets
    log.ev("p2", "Login", T(3))
    rows = cohort(log.events, "Login", "Login", *WEEK, "WEEK", "WEEK", 3, computed_at=T(15))
    assert len(rows) == 1
    assert rows[0]["start"] == T(1) and rows[0]["size"] == 2
    # The first Login itself falls in cell 0; row ends Jan 8: complete when
    # Jan 8 + (n+1) weeks ≤ Jan 15.
    assert [(c["people"], c["rate"], c["complete"]) for c in rows[0]["cells"]] == [
        (2, 1.0, True),
        (1, 0.5, False),
        (0, 0.0, False),
    ]


def test_cohort_month_rows_and_30_day_buckets() -> None:
    log = Log()
    log.ev("p1", "Join", T(31))  # row January
    log.ev("p1", "Use", T(1, month=3))  # 30 days after Jan 31 is Mar 1 (leap year): cell 1
    log.ev("p2", "Join", T(1, month=2))  # row February
    log.ev("p2", "Use", T(2, month=3))  # 30 days: Mar 2 → cell 1 starts exactly here
    log.ev("p3", "Join", T(15, month=3))  # row March (later rows ascending)
    rows = cohort(log.events, "Join", "Use", T(1), T(1, month=4), "MONTH", "MONTH", 2, computed_at=T(1, month=5))
    assert [r["start"] for r in rows] == [T(1), T(1, month=2), T(1, month=3)]
    assert [[c["people"] for c in r["cells"]] for r in rows] == [[0, 1], [0, 1], [0, 0]]
    # January row ends Feb 1: + 60 days = Apr 1 ≤ May 1; March ends Apr 1 + 60 days > May 1.
    assert [[c["complete"] for c in r["cells"]] for r in rows] == [[True, True], [True, True], [True, False]]


# ======================================================================= revenue


def test_refunds_larger_than_purchases() -> None:
    log = Log()
    log.set("p1", "Campaign Source", "google", T(1))
    log.ev("p1", "Purchased", T(2, 10), Revenue=10)
    log.ev("p1", "Refunded", T(3, 10), Revenue="-25.50")
    log.ev("p2", "Refunded", T(2, 12), Revenue=-5)  # no source: null
    log.ev("p3", "Visited", T(31, month=12, year=2023), **{"Campaign Source": "ads"})  # before range
    log.ev("p3", "Purchased", T(5), Revenue="3", **{"Campaign Source": "bing"})
    log.ev("p4", "Purchased", T(8), Revenue=100)  # at `to`: outside
    r = revenue(log.events, log.propsets, *WEEK, interval="DAY")
    # total 10 − 25.50 − 5 + 3 = −17.50; gross 13; refunds −30.50; paying p1, p3.
    assert r["total"] == Decimal("-17.50")
    assert r["gross"] == Decimal("13")
    assert r["refunds"] == Decimal("-30.50")
    assert r["payingPeople"] == 2
    assert r["averageRevenuePerPayingPerson"] == Decimal("-8.75")
    assert [p["start"] for p in r["series"]] == [T(d) for d in range(1, 8)]
    assert [(p["total"], p["gross"], p["refunds"], p["payingPeople"], p["averageRevenuePerPayingPerson"]) for p in r["series"]] == [
        (0, 0, 0, 0, Decimal("0.00")),
        (5, 10, -5, 1, Decimal("5.00")),
        (Decimal("-25.50"), 0, Decimal("-25.50"), 0, Decimal("0.00")),
        (0, 0, 0, 0, Decimal("0.00")),
        (3, 3, 0, 1, Decimal("3.00")),
        (0, 0, 0, 0, Decimal("0.00")),
        (0, 0, 0, 0, Decimal("0.00")),
    ]
    # Sources: p1 google (property set), p2 none, p3 "ads" (first touch, before the
    # range). Total descending; the null slice is not forced last.
    assert r["bySource"] == [
        {"value": "ads", "total": Decimal(3), "payingPeople": 1, "averageRevenuePerPayingPerson": Decimal("3.00")},
        {"value": None, "total": Decimal(-5), "payingPeople": 0, "averageRevenuePerPayingPerson": Decimal("0.00")},
        {"value": "google", "total": Decimal("-15.50"), "payingPeople": 1, "averageRevenuePerPayingPerson": Decimal("-15.50")},
    ]
    assert r["topPeople"] == [("p3", Decimal(3)), ("p2", Decimal(-5)), ("p1", Decimal("-15.50"))]


def test_revenue_rounding_ties_and_exact_sums() -> None:
    log = Log()
    log.ev("p1", "Buy", T(2), Revenue="0.03")
    log.ev("p2", "Buy", T(2), Revenue="0.02")
    log.ev("p3", "Buy", T(2), Revenue="0.05")
    log.ev("p3", "Refund", T(2), Revenue="-0.05")  # p3 nets 0 but paid once: paying
    log.ev("p4", "Free", T(2), Revenue=0)  # a Revenue event, not paying
    r = revenue(log.events, [], *WEEK, interval="WEEK")
    # 0.05 / 3 payers = 0.01666… → 0.02
    assert (r["total"], r["payingPeople"], r["averageRevenuePerPayingPerson"]) == (Decimal("0.05"), 3, Decimal("0.02"))
    # ties in topPeople by id ascending: p3 and p4 both 0.
    assert r["topPeople"] == [("p1", Decimal("0.03")), ("p2", Decimal("0.02")), ("p3", Decimal(0)), ("p4", Decimal(0))]
    assert len(r["series"]) == 1 and r["series"][0]["start"] == T(1)

    # 0.05 / 2 = 0.025 → 0.03 (half up); −0.05 / 2 = −0.025 → −0.03 (half away from zero)
    two = [make_event(1, "a", "Buy", T(2), {"Revenue": "0.03"}), make_event(2, "b", "Buy", T(2), {"Revenue": "0.02"})]
    assert revenue(two, [], *WEEK)["averageRevenuePerPayingPerson"] == Decimal("0.03")
    neg = two + [make_event(3, "a", "Refund", T(3), {"Revenue": "-0.10"})]
    assert revenue(neg, [], *WEEK)["averageRevenuePerPayingPerson"] == Decimal("-0.03")

    # Exact beyond the default 28 significant digits.
    big = [
        make_event(1, "a", "Buy", T(2), {"Revenue": "12345678901234567890.01"}),
        make_event(2, "b", "Buy", T(2), {"Revenue": "0.000000000000000000001"}),
    ]
    assert revenue(big, [], *WEEK)["total"] == Decimal("12345678901234567890.010000000000000000001")


def test_revenue_series_periods_overlapping_the_range() -> None:
    log = Log()
    log.ev("p1", "Buy", T(10), Revenue=1)  # before `from`
    log.ev("p1", "Buy", T(20), Revenue=2)
    log.ev("p1", "Buy", T(10, month=2), Revenue=4)
    r = revenue(log.events, [], T(15), T(1, month=3), interval="MONTH")
    # January (starting before `from`) and February; only events in range count.
    assert [(p["start"], p["total"]) for p in r["series"]] == [(T(1), 2), (T(1, month=2), 4)]
    r = revenue(log.events, [], T(15), T(1, 0, 0, 1, month=3), interval="MONTH")
    assert [p["start"] for p in r["series"]] == [T(1), T(1, month=2), T(1, month=3)]


def test_revenue_source_first_touch_ties() -> None:
    log = Log()
    # Same timestamp: the property set wins over the event, whatever the receive order.
    log.ev("p1", "Hit", T(1, 9), **{"Campaign Source": "event"})
    log.set("p1", "Campaign Source", "propset", T(1, 9))
    log.set("p1", "Campaign Source", "later", T(1, 10))
    # A null value is no source; the next value is.
    log.set("p2", "Campaign Source", None, T(1, 8))
    log.ev("p2", "Hit", T(1, 9), **{"Campaign Source": 42})  # text form "42"
    # Two events at the same time: the smaller seq.
    log.ev("p3", "Hit", T(1, 9), **{"Campaign Source": "x"})
    log.ev("p3", "Hit", T(1, 9), **{"Campaign Source": "y"})
    for pid in ("p1", "p2", "p3"):
        log.ev(pid, "Buy", T(2), Revenue=10)
    r = revenue(log.events, log.propsets, *WEEK, source_property="Campaign Source")
    # Equal totals: value ascending.
    assert [s["value"] for s in r["bySource"]] == ["42", "propset", "x"]


# ======================================================================= invariants

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.support.reference import _person_chains  # noqa: E402  the oracle's internals, for one DESIGN remark

_random_events = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["A", "B", "C"]), st.integers(0, 20)),
    max_size=25,
)
_random_steps = st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=4)


def _events_from(rows: list[tuple[str, str, int]]) -> list[Ev]:
    # Timestamps on a coarse grid (10-minute steps) so that ties are frequent.
    return [make_event(i, pid, name, T(1, 10) + timedelta(minutes=10 * m)) for i, (pid, name, m) in enumerate(rows)]


@settings(max_examples=300)
@given(_random_events, _random_steps, st.one_of(st.none(), st.integers(0, 7200)))
def test_funnel_invariants(rows: list[tuple[str, str, int]], names: list[str], window: int | None) -> None:
    events = _events_from(rows)
    steps = [{"event": n} for n in names]
    frm, to = T(1, 10, 30), T(1, 13)
    r = funnel(events, {}, steps, frm, to, window_seconds=window, segment_by={"firstStepProperty": "x"})
    s = r["steps"]
    for k, step in enumerate(s):
        assert step["people"] == len(step["reached"]) == len(set(step["reached"]))
        assert step["droppedOff"] == len(step["dropped"])
        if k:
            assert step["people"] <= s[k - 1]["people"]
            assert set(step["reached"]) | set(step["dropped"]) == set(s[k - 1]["reached"])
            assert not set(step["reached"]) & set(step["dropped"])
            t = step["timeFromPrevious"]
            assert (t is None) == (step["people"] == 0)
            if t:
                assert t["count"] == step["people"] == sum(b["people"] for b in t["histogram"])
                assert 0 <= t["medianSeconds"] <= t["p90Seconds"] <= 9000
    # Everyone falls in the null segment here; it repeats the overall steps.
    if s[0]["people"]:
        assert [seg["steps"] for seg in r["segments"]] == [s]
    else:
        assert r["segments"] == []
    # A window can only lose people.
    if window is not None:
        unwindowed = funnel(events, {}, steps, frm, to)["steps"]
        assert all(a["people"] <= b["people"] for a, b in zip(s, unwindowed))
    # DESIGN.md: "With no window the earliest start is always best".
    for chain in _person_chains(events, steps, frm, to, None):
        earliest = min(
            (e for e in events if e.person_id == chain.person_id and e.name == names[0] and frm <= e.timestamp < to),
            key=lambda e: (e.timestamp, e.seq),
        )
        assert chain.events[0] is earliest


# ======================================================================= population filter


def _population_log() -> Log:
    log = Log()
    log.set("a", "plan", "pro", T(1))
    log.set("b", "plan", "free", T(1))
    log.set("d", "country", "FR", T(1))  # in the properties only, no events
    log.ev("a", "Promo", T(5))
    log.ev("b", "Promo", T(6))  # at `to` of the bounded filters below: outside
    log.ev("c", "Promo", T(4))  # c has events only, no properties
    return log


def test_people_filter_empty_is_everyone() -> None:
    log = _population_log()
    props = log.props()
    assert people_filter(log.events, props, None) is None
    assert people_filter(log.events, props, {"properties": None, "didEvent": None}) is None
    assert people_filter(log.events, props, {"properties": [], "didEvent": None}) is None
    # from/to are ignored without didEvent: still everyone.
    assert people_filter(log.events, props, {"properties": None, "didEvent": None, "from": T(5), "to": T(6)}) is None


def test_people_filter_properties() -> None:
    log = _population_log()
    props = log.props()
    assert people_filter(log.events, props, {"properties": [{"key": "plan", "value": "pro"}]}) == {"a"}
    # The universe is the persons of person_props and of events; no properties is {}.
    assert people_filter(log.events, props, {"properties": [{"key": "plan", "op": "NOT_EXISTS"}]}) == {"c", "d"}
    assert people_filter(log.events, props, {"properties": [{"key": "plan", "op": "NEQ", "value": "pro"}]}) == {
        "b",
        "c",
        "d",
    }


def test_people_filter_did_event_with_and_without_bounds() -> None:
    log = _population_log()
    props = log.props()
    assert people_filter(log.events, props, {"didEvent": "Promo"}) == {"a", "b", "c"}
    assert people_filter(log.events, props, {"didEvent": "promo"}) == set()  # exact name
    assert people_filter(log.events, props, {"didEvent": "Promo", "from": T(5)}) == {"a", "b"}
    assert people_filter(log.events, props, {"didEvent": "Promo", "to": T(6)}) == {"a", "c"}  # to exclusive
    assert people_filter(log.events, props, {"didEvent": "Promo", "from": T(5), "to": T(6)}) == {"a"}
    both = {"properties": [{"key": "plan", "value": "free"}], "didEvent": "Promo", "from": T(5), "to": T(6)}
    assert people_filter(log.events, props, both) == set()


def test_population_filter_in_funnel_and_revenue() -> None:
    log = _population_log()
    for pid in "abc":
        log.ev(pid, "A", T(2))
    log.ev("a", "B", T(3))
    log.ev("b", "B", T(3), Revenue=5)
    log.ev("a", "Buy", T(3), Revenue="10.50")
    props = log.props()
    flt = {"didEvent": "Promo", "to": T(6)}  # a and c
    rep = funnel(log.events, props, STEPS_AB, *WEEK, people=flt)
    assert [st["people"] for st in rep["steps"]] == [2, 1]
    assert rep["steps"][0]["reached"] == ["a", "c"]
    assert rep["steps"][1]["dropped"] == ["c"]
    # Unfiltered: a, b, c enter and a, b convert.
    assert [st["people"] for st in funnel(log.events, props, STEPS_AB, *WEEK)["steps"]] == [3, 2]
    r = revenue(log.events, log.propsets, *WEEK, "WEEK", people={"properties": [{"key": "plan", "value": "free"}]})
    assert (r["total"], r["payingPeople"], r["topPeople"]) == (Decimal(5), 1, [("b", Decimal(5))])
    r = revenue(log.events, log.propsets, *WEEK, "WEEK", people=flt)
    assert (r["total"], r["payingPeople"], r["topPeople"]) == (Decimal("10.50"), 1, [("a", Decimal("10.50"))])


# ======================================================================= funnel: exclusions, holdConstant, trend

STEPS_SP = [{"event": "Signup"}, {"event": "Pay"}]
CANCEL_0_1 = [{"event": "Cancel", "where": None, "afterStep": 0, "beforeStep": 1}]


def _exclusion_log() -> Log:
    log = Log()
    log.ev("a", "Signup", T(1))
    log.ev("a", "Cancel", T(2))  # between t_0 and t_1 (T3): out
    log.ev("a", "Pay", T(3))
    log.ev("b", "Signup", T(1))
    log.ev("b", "Pay", T(3))
    log.ev("b", "Cancel", T(4))  # after t_end = t_1: stays
    log.ev("c", "Signup", T(1))
    log.ev("c", "Cancel", T(2))  # Pay never reached, no window: t_end = to: out
    log.ev("d", "Cancel", T(1))  # before t_0: stays
    log.ev("d", "Signup", T(2))
    log.ev("e", "Signup", T(1))
    log.ev("e", "Cancel", T(1))  # same second as t_after: not strictly after, stays
    log.ev("f", "Signup", T(1))
    log.ev("f", "Cancel", T(10))  # at `to`: stays
    return log


def test_funnel_exclusion_without_window() -> None:
    log = _exclusion_log()
    rep = funnel(log.events, {}, STEPS_SP, T(1), T(10), exclusions=CANCEL_0_1)
    assert [st["people"] for st in rep["steps"]] == [4, 1]
    assert rep["steps"][0]["reached"] == ["b", "e", "f", "d"]  # by t_0 (T1, T1, T1, T2), then id
    assert rep["steps"][1]["reached"] == ["b"]
    # Without the exclusion everyone enters and a, b convert.
    assert [st["people"] for st in funnel(log.events, {}, STEPS_SP, T(1), T(10))["steps"]] == [6, 2]


def test_funnel_exclusion_t_end_is_window_when_before_step_not_reached() -> None:
    log = _exclusion_log()
    # Window 1 day: a's Pay (T3) is beyond T1 + 1 day, so nobody converts, and t_end =
    # t_0 + window = T2 for a and c: their Cancel at T2 is not < t_end, they stay.
    rep = funnel(log.events, {}, STEPS_SP, T(1), T(10), window_seconds=86400, exclusions=CANCEL_0_1)
    assert [st["people"] for st in rep["steps"]] == [6, 0]
    # One second more of window: T2 < T2 + 1 s, a and c leave.
    rep = funnel(log.events, {}, STEPS_SP, T(1), T(10), window_seconds=86401, exclusions=CANCEL_0_1)
    assert [st["people"] for st in rep["steps"]] == [4, 0]


def test_funnel_exclusion_only_when_after_step_reached() -> None:
    log = Log()
    log.ev("g", "Signup", T(1))
    log.ev("g", "Cancel", T(2))  # g never reaches Trial (step 1): not excluded
    log.ev("h", "Signup", T(1))
    log.ev("h", "Trial", T(2))
    log.ev("h", "Cancel", T(3))  # after Trial, Pay never reached: t_end = to → out
    log.ev("i", "Signup", T(1))
    log.ev("i", "Trial", T(2))
    log.ev("i", "Cancel", T(3), reason="price")  # fails the exclusion's where: stays
    steps = [{"event": "Signup"}, {"event": "Trial"}, {"event": "Pay"}]
    excl = [{"event": "Cancel", "where": [{"key": "reason", "op": "NOT_EXISTS"}], "afterStep": 1, "beforeStep": 2}]
    rep = funnel(log.events, {}, steps, T(1), T(10), exclusions=excl)
    assert [st["people"] for st in rep["steps"]] == [2, 1, 0]
    assert rep["steps"][1]["reached"] == ["i"]
    assert rep["steps"][1]["dropped"] == ["g"]


def test_funnel_exclusion_event_of_the_chain_does_not_count() -> None:
    log = Log()
    for pid in ("i", "j"):
        log.ev(pid, "A", T(1))
        log.ev(pid, "B", T(2))  # the chain's step 1, strictly between t_0 and t_2
    log.ev("j", "B", T(2, 12))  # a second B, not part of j's chain: j leaves
    log.ev("i", "C", T(3))
    log.ev("j", "C", T(3))
    steps = [{"event": "A"}, {"event": "B"}, {"event": "C"}]
    excl = [{"event": "B", "afterStep": 0, "beforeStep": 2}]
    rep = funnel(log.events, {}, steps, T(1), T(10), exclusions=excl)
    assert [st["people"] for st in rep["steps"]] == [1, 1, 1]
    assert rep["steps"][2]["reached"] == ["i"]


def test_funnel_hold_constant() -> None:
    log = Log()
    log.ev("a", "View", T(1))  # no sku: not a start
    log.ev("a", "View", T(2), sku="x")  # the start
    log.ev("a", "Buy", T(3), sku="y")  # other value: not step 1
    log.ev("a", "Buy", T(4), sku="x")  # step 1
    log.ev("b", "View", T(1), sku=1)  # JSON number 1: text "1"
    log.ev("b", "Buy", T(2), sku="1")  # string "1": the same text
    log.ev("c", "View", T(1))  # never a start: not in the report
    log.ev("c", "Buy", T(2), sku="x")
    log.ev("d", "View", T(1), sku="x")
    log.ev("d", "Buy", T(2))  # missing value never equals
    steps = [{"event": "View"}, {"event": "Buy"}]
    rep = funnel(log.events, {}, steps, T(1), T(10), hold_constant="sku")
    assert [st["people"] for st in rep["steps"]] == [3, 2]
    assert rep["steps"][0]["reached"] == ["b", "d", "a"]  # t_0: T1, T1, T2
    assert rep["steps"][1]["reached"] == ["b", "a"]  # t_1: T2, T4
    # Durations b 1 day, a 2 days (T2 → T4): the median of two is their mean.
    assert rep["steps"][1]["timeFromPrevious"]["medianSeconds"] == 129600.0
    # Without holding: a, b, c, d all convert.
    assert [st["people"] for st in funnel(log.events, {}, steps, T(1), T(10))["steps"]] == [4, 4]


def test_funnel_trend_per_period_of_t0() -> None:
    log = Log()
    log.ev("a", "Signup", T(1, 5))
    log.ev("a", "Pay", T(2))  # converts on day 2, counted in day 1 (t_0's period)
    log.ev("b", "Signup", T(1, 6))
    log.ev("c", "Signup", T(3))
    log.ev("c", "Pay", T(3, 1))
    log.ev("d", "Signup", T(3))
    log.ev("d", "Cancel", T(3, 1))  # excluded: gone from the trend too
    log.ev("e", "Signup", T(4))  # at `to`: not entered
    rep = funnel(log.events, {}, STEPS_SP, T(1), T(4), exclusions=CANCEL_0_1, trend_interval="DAY")
    assert rep["trend"] == [
        {"start": T(1), "entered": 2, "converted": 1, "rate": 0.5},
        {"start": T(2), "entered": 0, "converted": 0, "rate": 0.0},  # empty period kept
        {"start": T(3), "entered": 1, "converted": 1, "rate": 1.0},
    ]
    assert "trend" not in funnel(log.events, {}, STEPS_SP, T(1), T(4))


# ======================================================================= cohort: recurring, cumulative


def _recurring_log() -> Log:
    log = Log()
    log.ev("a", "Login", T(1))  # before the range
    log.ev("a", "Login", T(2, 10))
    log.ev("a", "Login", T(2, 5))  # received later, earlier: a's t₀ in the Jan 2 row
    log.ev("a", "Login", T(4, 8))  # a's t₀ in the Jan 4 row
    log.ev("a", "Buy", T(3, 6))
    log.ev("a", "Buy", T(6, 0))
    log.ev("b", "Login", T(2, 0))
    log.ev("b", "Buy", T(2, 1))
    log.ev("c", "Login", T(5))  # at `to`: in no row
    log.ev("d", "Login", T(3, 23))
    log.ev("d", "Buy", T(6, 0))
    return log


def _cells(rows: list[dict[str, Any]]) -> list[tuple[datetime, int, list[int]]]:
    return [(r["start"], r["size"], [c["people"] for c in r["cells"]]) for r in rows]


def test_cohort_recurring() -> None:
    log = _recurring_log()
    args = (log.events, "Login", "Buy", T(2), T(5), "DAY", "DAY", 3, T(20))
    # Jan 2 row: a (t₀ 05:00: Buy Jan 3 06:00 is in [Jan 3 05:00, Jan 4 05:00) → cell 1),
    #            b (t₀ 00:00: Buy 01:00 → cell 0);
    # Jan 3 row: d (t₀ 23:00: Buy Jan 6 00:00 in [Jan 5 23:00, Jan 6 23:00) → cell 2);
    # Jan 4 row: a again (t₀ 08:00: Buy Jan 6 00:00 in [Jan 5 08:00, Jan 6 08:00) → cell 1).
    assert _cells(cohort(*args, mode="RECURRING")) == [
        (T(2), 2, [1, 1, 0]),
        (T(3), 1, [0, 0, 1]),
        (T(4), 1, [0, 1, 0]),
    ]
    rows = cohort(*args, mode="RECURRING")
    assert [c["rate"] for c in rows[0]["cells"]] == [0.5, 0.5, 0.0]
    # FIRST_TIME: a's first Login ever is Jan 1, before `from`: only b and d.
    assert _cells(cohort(*args)) == [(T(2), 1, [1, 0, 0]), (T(3), 1, [0, 0, 1])]


def test_cohort_cumulative() -> None:
    log = _recurring_log()
    args = (log.events, "Login", "Buy", T(2), T(5), "DAY", "DAY", 3, T(20))
    # Jan 2 row: cell 0: a, b; cell 1 (≥ t₀ + 1 day): a (Jan 3 06:00 ≥ Jan 3 05:00), b's
    # only Buy is earlier; cell 2 (≥ Jan 4 05:00): a by its Jan 6 Buy.
    # Jan 3 row: d's Jan 6 00:00 ≥ Jan 5 23:00: every cell.
    # Jan 4 row: a: Jan 6 00:00 ≥ Jan 5 08:00 but < Jan 6 08:00: cells 0, 1.
    assert _cells(cohort(*args, mode="RECURRING", cumulative=True)) == [
        (T(2), 2, [2, 1, 1]),
        (T(3), 1, [1, 1, 1]),
        (T(4), 1, [1, 1, 0]),
    ]
    assert _cells(cohort(*args, cumulative=True)) == [(T(2), 1, [1, 0, 0]), (T(3), 1, [1, 1, 1])]


def test_cohort_population_filter() -> None:
    log = _recurring_log()
    args = (log.events, "Login", "Buy", T(2), T(5), "DAY", "DAY", 3, T(20))
    pro = {"properties": [{"key": "plan", "value": "pro"}]}
    rows = cohort(*args, mode="RECURRING", people=pro, person_props={"a": {"plan": "pro"}, "b": {"plan": "free"}})
    assert _cells(rows) == [(T(2), 1, [0, 1, 0]), (T(4), 1, [0, 1, 0])]
    # person_props None: nobody has properties, nobody matches.
    assert cohort(*args, people=pro) == []


# ======================================================================= trends


def _trends_log() -> Log:
    log = Log()
    log.ev("a", "View", T(31, 23, month=12, year=2023), price=1000)  # before `from`
    log.ev("a", "View", T(1, 10), price=10)
    log.ev("a", "View", T(1, 11), price="2.5")  # numeric string: a number
    log.ev("b", "View", T(1, 12), price="abc")  # not numeric
    log.ev("a", "View", T(3, 9))  # no price
    log.ev("b", "View", T(3, 10), price=4)
    log.ev("b", "View", T(4), price=100)  # at `to`
    log.ev("c", "Click", T(1), price=7)  # another event
    return log


def _one(math_: str, prop: str | None = None, **kw: Any) -> dict[str, Any]:
    log = _trends_log()
    out = trends(log.events, {}, [{"event": "View", "math": math_, "property": prop}], T(1), T(4), **kw)
    assert len(out) == 1
    return out[0]


def _values(series: dict[str, Any]) -> list[float | None]:
    return [p["value"] for p in series["points"]]


def test_trends_total_and_people() -> None:
    s = _one("TOTAL")
    assert (s["index"], s["event"], s["math"], s["breakdownValue"]) == (0, "View", "TOTAL", None)
    assert [p["start"] for p in s["points"]] == [T(1), T(2), T(3)]  # empty Jan 2 included
    assert _values(s) == [3.0, 0.0, 2.0] and s["total"] == 5.0
    assert [p["people"] for p in s["points"]] == [[], [], []]  # lists only for PEOPLE math
    s = _one("PEOPLE")
    assert _values(s) == [2.0, 0.0, 2.0]
    assert s["total"] == 2.0  # distinct over the range, not 2 + 2
    assert [p["people"] for p in s["points"]] == [["a", "b"], [], ["a", "b"]]


def test_trends_events_per_person() -> None:
    s = _one("EVENTS_PER_PERSON")
    assert _values(s) == [1.5, 0.0, 1.0]  # 3/2, none → 0, 2/2
    assert s["total"] == 2.5  # 5 events / 2 people


def test_trends_property_math() -> None:
    # Day 1 numeric prices: 10, 2.5 ("abc" is not numeric); day 3: 4 (one View has none).
    assert (_values(s := _one("SUM", "price")), s["total"]) == ([12.5, 0.0, 4.0], 16.5)
    assert (_values(s := _one("AVERAGE", "price")), s["total"]) == ([6.25, None, 4.0], 5.5)
    assert (_values(s := _one("MIN", "price")), s["total"]) == ([2.5, None, 4.0], 2.5)
    assert (_values(s := _one("MAX", "price")), s["total"]) == ([10.0, None, 4.0], 10.0)
    # Median of two (day 1) is their mean; over the range: 2.5, 4, 10 → 4.
    assert (_values(s := _one("MEDIAN", "price")), s["total"]) == ([6.25, None, 4.0], 4.0)


def test_trends_no_numeric_value() -> None:
    assert (_values(s := _one("SUM", "nope")), s["total"]) == ([0.0, 0.0, 0.0], 0.0)
    for m in ("AVERAGE", "MIN", "MAX", "MEDIAN"):
        assert (_values(s := _one(m, "nope")), s["total"]) == ([None, None, None], None)
    assert _one("SUM", None)["total"] == 0.0


def test_trends_exact_sums_and_even_median() -> None:
    log = Log()
    for v in ("0.1", "0.2", 1, "1e1"):
        log.ev("a", "Pay", T(1), amount=v)
    log.ev("a", "Pay", T(1), amount=True)  # a boolean is not a number
    log.ev("a", "Pay", T(1), amount=" 5")  # not the numeric form GT/LT accept
    series = [
        {"event": "Pay", "math": "SUM", "property": "amount"},
        {"event": "Pay", "math": "MEDIAN", "property": "amount"},
        {"event": "Pay", "math": "AVERAGE", "property": "amount"},
    ]
    out = trends(log.events, {}, series, T(1), T(2))
    assert [s["index"] for s in out] == [0, 1, 2]
    assert out[0]["total"] == 11.3  # exact 0.1 + 0.2 + 1 + 10, not float addition
    assert out[1]["total"] == 0.6  # median of 0.1, 0.2, 1, 10: (0.2 + 1) / 2
    assert out[2]["total"] == 2.825  # 11.3 / 4


def test_trends_where_filter_and_population() -> None:
    log = _trends_log()
    series = [{"event": "View", "where": [{"key": "price", "op": "GT", "value": 3}], "math": "TOTAL"}]
    assert _values(trends(log.events, {}, series, T(1), T(4))[0]) == [1.0, 0.0, 1.0]  # 10 and 4
    props = {"b": {"plan": "pro"}}
    out = trends(log.events, props, series, T(1), T(4), people={"properties": [{"key": "plan", "value": "pro"}]})
    assert _values(out[0]) == [0.0, 0.0, 1.0]


def test_trends_breakdown_ranking_folding_null_last() -> None:
    log = Log()
    log.ev("p1", "Buy", T(1), plan="b")
    log.ev("p2", "Buy", T(1), plan="b")
    log.ev("p3", "Buy", T(1), plan="a")
    log.ev("p3", "Buy", T(1, 1), plan="a")
    log.ev("p4", "Buy", T(1), plan="c")
    log.ev("p5", "Buy", T(1))  # missing: null
    log.ev("p6", "Buy", T(1), plan=3)  # JSON number: "3"
    log.ev("p7", "Buy", T(2), plan="z")  # at `to`: not counted in the ranking
    log.ev("p7", "Buy", T(2, 1), plan="z")
    # Counts a 2, b 2, "3" 1, c 1: ties by value ascending → a, b kept (limit 2);
    # "3", c and the missing one fold into null (3 events), which still comes last.
    bd = {"eventProperty": "plan", "limit": 2}
    out = trends(log.events, {}, [{"event": "Buy", "math": "TOTAL"}], T(1), T(2), breakdown=bd)
    assert [(s["breakdownValue"], s["total"]) for s in out] == [("a", 2.0), ("b", 2.0), (None, 3.0)]
    out = trends(log.events, {}, [{"event": "Buy", "math": "PEOPLE"}], T(1), T(2), breakdown=bd)
    assert [(s["breakdownValue"], s["total"]) for s in out] == [("a", 1.0), ("b", 2.0), (None, 3.0)]
    assert out[2]["points"][0]["people"] == ["p4", "p5", "p6"]
    # With room for everyone and no missing value, there is no null series.
    log2 = Log()
    log2.ev("p1", "Buy", T(1), plan="b")
    log2.ev("p2", "Buy", T(1), plan="a")
    out = trends(log2.events, {}, [{"event": "Buy", "math": "TOTAL"}], T(1), T(2), breakdown={"eventProperty": "plan"})
    assert [s["breakdownValue"] for s in out] == ["a", "b"]


def test_trends_breakdown_person_property_and_series_order() -> None:
    log = Log()
    log.ev("p1", "Buy", T(1))
    log.ev("p1", "Buy", T(1, 1))
    log.ev("p2", "Buy", T(1))
    log.ev("p3", "Buy", T(1))  # no properties: null
    log.ev("p2", "View", T(1))
    props = {"p1": {"plan": "free"}, "p2": {"plan": "pro"}}
    series = [{"event": "View", "math": "TOTAL"}, {"event": "Buy", "math": "TOTAL"}]
    out = trends(log.events, props, series, T(1), T(2), breakdown={"personProperty": "plan"})
    assert [(s["index"], s["breakdownValue"], s["total"]) for s in out] == [
        (0, "pro", 1.0),
        (1, "free", 2.0),
        (1, "pro", 1.0),
        (1, None, 1.0),
    ]


# ======================================================================= stickiness


def test_stickiness_buckets_with_zeros() -> None:
    log = Log()
    log.ev("a", "Use", T(1, 1))
    log.ev("a", "Use", T(1, 2))  # same day: one period
    log.ev("a", "Use", T(3))
    log.ev("b", "Use", T(2))
    for d in (1, 2, 3):
        log.ev("c", "Use", T(d))
    log.ev("d", "Use", T(6))  # at `to`
    log.ev("d", "Use", T(31, month=12, year=2023))  # before `from`
    log.ev("e", "Other", T(1))
    log.ev("f", "Use", T(2), beta=True)  # fails where
    where = [{"key": "beta", "op": "NOT_EXISTS"}]
    rep = stickiness(log.events, {}, "Use", where, T(1), T(6))
    assert rep == {
        "intervals": 5,
        "buckets": [
            {"periods": 1, "people": 1, "peopleIds": ["b"]},
            {"periods": 2, "people": 1, "peopleIds": ["a"]},
            {"periods": 3, "people": 1, "peopleIds": ["c"]},
            {"periods": 4, "people": 0, "peopleIds": []},
            {"periods": 5, "people": 0, "peopleIds": []},
        ],
    }
    # Wednesday Jan 3 to Wednesday Jan 10 overlaps two ISO weeks; a: Jan 3 (week 1),
    # c: Jan 3 (week 1); b's Jan 2 is before `from`.
    rep = stickiness(log.events, {}, "Use", None, T(3), T(10), "WEEK")
    assert rep["intervals"] == 2
    assert [(b["periods"], b["peopleIds"]) for b in rep["buckets"]] == [(1, ["a", "c", "d"]), (2, [])]
    rep = stickiness(log.events, {"a": {"x": 1}}, "Use", None, T(1), T(6), people={"properties": [{"key": "x", "op": "EXISTS"}]})
    assert [b["people"] for b in rep["buckets"]] == [0, 1, 0, 0, 0]


# ======================================================================= lifecycle


def test_lifecycle_history_before_from_and_dormant() -> None:
    log = Log()
    log.ev("a", "Use", T(1))  # history before `from`: a is not new on Jan 3
    log.ev("a", "Use", T(3))
    log.ev("a", "Use", T(4))
    log.ev("b", "Use", T(3, 12))  # first ever
    log.ev("b", "Use", T(5))
    log.ev("c", "Use", T(2))  # active on Jan 2 (before `from`): returning on Jan 3
    log.ev("c", "Use", T(3))
    log.ev("d", "Use", T(5))
    log.ev("d", "Use", T(8))  # at `to`: not history
    log.ev("e", "Use", T(2))  # active Jan 2 only: dormant on Jan 3
    log.ev("f", "Other", T(3))
    pts = lifecycle(log.events, {}, "Use", None, T(3), T(8))
    got = [(p["start"], p["new"], p["returning"], p["resurrecting"], p["dormant"]) for p in pts]
    assert got == [
        (T(3), 1, 1, 1, 1),
        (T(4), 0, 1, 0, 2),
        (T(5), 1, 0, 1, 1),
        (T(6), 0, 0, 0, 2),
        (T(7), 0, 0, 0, 0),  # empty period kept
    ]
    assert [p["people"] for p in pts] == [
        {"NEW": ["b"], "RETURNING": ["c"], "RESURRECTING": ["a"], "DORMANT": ["e"]},
        {"NEW": [], "RETURNING": ["a"], "RESURRECTING": [], "DORMANT": ["b", "c"]},
        {"NEW": ["d"], "RETURNING": [], "RESURRECTING": ["b"], "DORMANT": ["a"]},
        {"NEW": [], "RETURNING": [], "RESURRECTING": [], "DORMANT": ["b", "d"]},
        {"NEW": [], "RETURNING": [], "RESURRECTING": [], "DORMANT": []},
    ]
    # Population: only b and d.
    pts = lifecycle(log.events, {"b": {"k": 1}, "d": {"k": 1}}, "Use", None, T(3), T(8), people={"properties": [{"key": "k", "op": "EXISTS"}]})
    assert [(p["new"], p["returning"], p["resurrecting"], p["dormant"]) for p in pts] == [
        (1, 0, 0, 0),
        (0, 0, 0, 1),
        (1, 0, 1, 0),
        (0, 0, 0, 2),
        (0, 0, 0, 0),
    ]


# ======================================================================= paths


def _paths_log() -> Log:
    log = Log()
    log.ev("a", "Land", T(1, 1))
    log.ev("a", "Home", T(1, 2))
    log.ev("a", "Home", T(1, 3))  # consecutive same name: one
    log.ev("a", "Search", T(1, 4))
    log.ev("a", "Buy", T(1, 5))
    log.ev("b", "Home", T(1, 1))
    log.ev("b", "Search", T(1, 2))  # same second as Cart, received first:
    log.ev("b", "Cart", T(1, 2))  # (timestamp, name) puts Cart first
    log.ev("c", "Home", T(1, 1))
    log.ev("c", "Search", T(1, 2))
    log.ev("c", "Buy", T(1, 3))
    log.ev("d", "Search", T(1, 1))  # no Home: not in the report
    log.ev("e", "Home", T(31, month=12, year=2023))  # Home only before `from`
    log.ev("e", "Search", T(1, 1))
    log.ev("f", "Home", T(1, 6))  # step 0 only
    return log


def test_paths_start_mode_fold_to_null() -> None:
    log = _paths_log()
    rep = paths(log.events, {}, T(1), T(2), start_event="Home", depth=2, limit=1)
    # Paths: a Home Search Buy; b Home Cart Search; c Home Search Buy; f Home.
    # Step 1: Search 2 (a, c) kept, Cart 1 (b) folds; step 2: Buy 2 kept, Search 1 folds.
    assert rep["nodes"] == [
        {"step": 0, "event": "Home", "people": 4, "peopleIds": ["a", "b", "c", "f"]},
        {"step": 1, "event": "Search", "people": 2, "peopleIds": ["a", "c"]},
        {"step": 1, "event": None, "people": 1, "peopleIds": ["b"]},
        {"step": 2, "event": "Buy", "people": 2, "peopleIds": ["a", "c"]},
        {"step": 2, "event": None, "people": 1, "peopleIds": ["b"]},
    ]
    assert rep["links"] == [
        {"fromStep": 0, "source": "Home", "target": "Search", "people": 2},
        {"fromStep": 0, "source": "Home", "target": None, "people": 1},
        {"fromStep": 1, "source": "Search", "target": "Buy", "people": 2},
        {"fromStep": 1, "source": None, "target": None, "people": 1},
    ]
    # depth 1 stops at step 1; limit 10 keeps Cart.
    rep = paths(log.events, {}, T(1), T(2), start_event="Home", depth=1)
    assert [(n["step"], n["event"], n["people"]) for n in rep["nodes"]] == [
        (0, "Home", 4),
        (1, "Search", 2),
        (1, "Cart", 1),
    ]


def test_paths_end_mode_nearest_first() -> None:
    log = _paths_log()
    log.ev("g", "Buy", T(1, 1))  # first Buy is the anchor: nothing before it
    log.ev("g", "Home", T(1, 2))
    log.ev("g", "Buy", T(1, 3))
    log.ev("h", "Cart", T(1, 1))
    log.ev("h", "Cart", T(1, 2))
    log.ev("h", "Buy", T(1, 3))
    rep = paths(log.events, {}, T(1), T(2), end_event="Buy", depth=3)
    # a: Land Home Search [Buy]; c: Home Search [Buy]; g: [Buy]; h: Cart [Buy].
    assert [(n["step"], n["event"], n["peopleIds"]) for n in rep["nodes"]] == [
        (-3, "Land", ["a"]),
        (-2, "Home", ["a", "c"]),
        (-1, "Search", ["a", "c"]),
        (-1, "Cart", ["h"]),
        (0, "Buy", ["a", "c", "g", "h"]),
    ]
    assert [(l["fromStep"], l["source"], l["target"], l["people"]) for l in rep["links"]] == [
        (-3, "Land", "Home", 1),
        (-2, "Home", "Search", 2),
        (-1, "Search", "Buy", 2),
        (-1, "Cart", "Buy", 1),
    ]


def test_paths_ties_name_ascending_null_after_names() -> None:
    log = Log()
    log.ev("a", "X", T(1))
    log.ev("a", "B", T(1, 1))
    log.ev("b", "X", T(1))
    log.ev("b", "A", T(1, 1))
    log.ev("c", "X", T(1))
    rep = paths(log.events, {}, T(1), T(2), start_event="X", depth=1, limit=1)
    # Step 1: A 1 and B 1 tie → A (ascending) keeps its node, B folds: null 1 after A.
    assert [(n["step"], n["event"], n["people"]) for n in rep["nodes"]] == [(0, "X", 3), (1, "A", 1), (1, None, 1)]
    assert [(l["source"], l["target"], l["people"]) for l in rep["links"]] == [("X", "A", 1), ("X", None, 1)]
    rep = paths(log.events, {"c": {"k": 1}}, T(1), T(2), start_event="X", people={"properties": [{"key": "k", "op": "EXISTS"}]})
    assert rep == {"nodes": [{"step": 0, "event": "X", "people": 1, "peopleIds": ["c"]}], "links": []}
    with pytest.raises(ValueError):
        paths(log.events, {}, T(1), T(2))


def test_new_reports_first_period_starts_before_from() -> None:
    log = Log()
    log.ev("x", "Use", T(3, 6))  # in the Jan 3 period, before `from` (Jan 3 12:00)
    log.ev("x", "Use", T(4, 1))
    log.ev("y", "Use", T(3, 13))
    # trends: the first point starts at the period's start but counts only events in range.
    out = trends(log.events, {}, [{"event": "Use", "math": "TOTAL"}], T(3, 12), T(5))
    assert [(p["start"], p["value"]) for p in out[0]["points"]] == [(T(3), 1.0), (T(4), 1.0)]
    # stickiness: periods of events in range only: x has Jan 4 only.
    rep = stickiness(log.events, {}, "Use", None, T(3, 12), T(5))
    assert [b["peopleIds"] for b in rep["buckets"]] == [["x", "y"], []]
    # lifecycle: active in P means a matching event in P before `to` (Decision), so x's
    # Jan 3 06:00 makes x new on Jan 3 and returning on Jan 4.
    pts = lifecycle(log.events, {}, "Use", None, T(3, 12), T(5))
    assert [p["people"]["NEW"] for p in pts] == [["x", "y"], []]
    assert [p["people"]["RETURNING"] for p in pts] == [[], ["x"]]
    assert [p["people"]["DORMANT"] for p in pts] == [[], ["y"]]


def test_trends_breakdown_without_events_has_no_series() -> None:
    log = Log()
    log.ev("a", "Other", T(1), plan="x")
    s = [{"event": "Buy", "math": "TOTAL"}]
    assert trends(log.events, {}, s, T(1), T(2), breakdown={"eventProperty": "plan"}) == []
    out = trends(log.events, {}, s, T(1), T(2))
    assert [(o["breakdownValue"], o["total"], _values(o)) for o in out] == [(None, 0.0, [0.0])]


# ======================================================================= invariants of the new reports


@settings(max_examples=100)
@given(_random_events, st.sampled_from(["A", "B", "C"]))
def test_new_report_invariants(rows: list[tuple[str, str, int]], name: str) -> None:
    events = _events_from(rows)
    frm, to = T(1, 11), T(1, 13, 30)  # hours 11, 12, 13 (the last one partly)
    in_range = {e.person_id for e in events if e.name == name and frm <= e.timestamp < to}

    tr = trends(events, {}, [{"event": name, "math": "PEOPLE"}, {"event": name, "math": "TOTAL"}], frm, to, "HOUR")
    people_s, total_s = tr
    assert people_s["total"] == len(in_range) == len(set().union(*[p["people"] for p in people_s["points"]]))
    assert total_s["total"] == sum(p["value"] for p in total_s["points"])
    bd = trends(events, {}, [{"event": name, "math": "TOTAL"}], frm, to, "HOUR", breakdown={"personProperty": "x"})
    assert sum(s["total"] for s in bd) == total_s["total"]

    sk = stickiness(events, {}, name, None, frm, to, "HOUR")
    assert sk["intervals"] == 3
    assert sum(b["people"] for b in sk["buckets"]) == len(in_range)
    assert sum(b["periods"] * b["people"] for b in sk["buckets"]) == sum(p["value"] for p in people_s["points"])

    lc = lifecycle(events, {}, name, None, frm, to, "HOUR")
    for k, p in enumerate(lc):
        assert p["new"] + p["returning"] + p["resurrecting"] == people_s["points"][k]["value"]
        prev = {e.person_id for e in events if e.name == name and p["start"] - timedelta(hours=1) <= e.timestamp < p["start"]}
        assert p["returning"] + p["dormant"] == len(prev)

    for kw in ({"start_event": name}, {"end_event": name}):
        pa = paths(events, {}, frm, to, depth=3, limit=1, **kw)
        zero = [n for n in pa["nodes"] if n["step"] == 0]
        assert [(n["event"], set(n["peopleIds"])) for n in zero] == ([(name, in_range)] if in_range else [])
        for n in pa["nodes"]:
            assert n["people"] == len(n["peopleIds"])
        for s in {n["step"] for n in pa["nodes"]}:
            at_s = sum(n["people"] for n in pa["nodes"] if n["step"] == s)
            assert sum(l["people"] for l in pa["links"] if l["fromStep"] == s) <= at_s

    steps = [{"event": "A"}, {"event": "B"}, {"event": "C"}]
    plain = funnel(events, {}, steps, frm, to, trend_interval="HOUR")
    assert sum(p["entered"] for p in plain["trend"]) == plain["steps"][0]["people"]
    assert sum(p["converted"] for p in plain["trend"]) == plain["steps"][-1]["people"]
    excl = funnel(events, {}, steps, frm, to, exclusions=[{"event": name, "afterStep": 0, "beforeStep": 2}])
    assert all(a["people"] <= b["people"] for a, b in zip(excl["steps"], plain["steps"]))
    held = funnel(events, {}, steps, frm, to, hold_constant="missing")
    assert [s["people"] for s in held["steps"]] == [0, 0, 0]

    args = (events, "A", name, frm, to, "HOUR", "HOUR", 3, T(2))
    for mode in ("FIRST_TIME", "RECURRING"):
        one, cum = cohort(*args, mode=mode), cohort(*args, mode=mode, cumulative=True)
        assert [r["size"] for r in one] == [r["size"] for r in cum]
        for r1, rc in zip(one, cum):
            assert all(a["people"] <= b["people"] for a, b in zip(r1["cells"], rc["cells"]))
            assert [c["people"] for c in rc["cells"]] == sorted((c["people"] for c in rc["cells"]), reverse=True)

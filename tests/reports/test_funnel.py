"""The funnel report (DESIGN.md §5 Funnel): named edge cases against the
database (compute_funnel) and over GraphQL (validation, peopleList, cache).
tests/reports/test_funnel_properties.py compares random funnels with the oracle."""
from __future__ import annotations

import pickle
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports import stats
from app.reports.funnel import (
    FunnelResult,
    FunnelSpec,
    FunnelStepSpec,
    SegmentSpec,
    StepStatus,
    compute_funnel,
)
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.funnel_cases import FROM, TO, UTC, T, gql_input, people, pid, record


def spec(
    *steps: str | tuple[str, list[PropertyFilter]],
    from_: datetime = FROM,
    to: datetime = TO,
    window: int | None = None,
    segment: SegmentSpec | None = None,
) -> FunnelSpec:
    built = [FunnelStepSpec(s) if isinstance(s, str) else FunnelStepSpec(s[0], tuple(s[1])) for s in steps]
    return FunnelSpec(tuple(built), from_, to, window, segment)


def page_ids(result: FunnelResult, step: int, status=StepStatus.REACHED, segment=None) -> list[uuid.UUID]:
    return [p for p, _ in result.people_page(step, status, 1000, None, segment).people]


# ======================================================================= chain semantics


async def test_same_second_steps_count_in_any_receive_order(services, project):
    # B is received before A but happens in the same second: t_B >= t_A holds.
    await record(services, project, ("s1", "B", 10), ("s1", "A", 10), ("s2", "A", 10), ("s2", "B", 9))
    result = await compute_funnel(services.pool, project.id, spec("A", "B"))
    assert people(result) == [2, 1]
    assert result.steps[1].dropped_off == 1
    assert result.steps[1].conversion_from_previous == 0.5
    t = result.steps[1].time_from_previous
    assert (t.count, t.median_seconds, t.mean_seconds, t.p90_seconds) == (1, 0.0, 0.0, 0.0)
    assert t.histogram[0] == (60.0, 1)
    assert page_ids(result, 1) == [await pid(services, project, "s1")]
    assert page_ids(result, 1, StepStatus.DROPPED) == [await pid(services, project, "s2")]


async def test_repeated_step_events_are_used_once_per_chain(services, project):
    await record(
        services, project,
        # one A: it cannot be both step 0 and step 1
        ("one", "A", 0), ("one", "B", 5),
        # A, B, A: step 1 is the second A, after which no B
        ("aba", "A", 0), ("aba", "B", 5), ("aba", "A", 10),
        # A, A, B: all three
        ("aab", "A", 0), ("aab", "A", 3), ("aab", "B", 7),
        # two A in the same second, B later
        ("same", "A", 0), ("same", "A", 0), ("same", "B", 1),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "A", "B"))
    assert people(result) == [4, 3, 2]
    ids = {i: await pid(services, project, i) for i in ("one", "aba", "aab", "same")}
    assert set(page_ids(result, 2)) == {ids["aab"], ids["same"]}
    assert page_ids(result, 1, StepStatus.DROPPED) == [ids["one"]]
    assert page_ids(result, 2, StepStatus.DROPPED) == [ids["aba"]]
    # step 1: aba 10 s, aab 3 s, same 0 s; step 2: aab 4 s, same 1 s
    assert result.steps[1].time_from_previous.mean_seconds == pytest.approx((10 + 3 + 0) / 3)
    assert result.steps[2].time_from_previous.mean_seconds == pytest.approx((4 + 1) / 2)


async def test_window_only_a_later_start_satisfies(services, project):
    await record(services, project, ("w", "A", 0), ("w", "A", 100), ("w", "B", 150), ("w", "C", 170))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", window=60))
    assert people(result) == [1, 1, 0]
    # The chain is the later start's: 50 s from A to B.
    assert result.steps[1].time_from_previous.median_seconds == 50.0
    (person, at), = result.people_page(0, StepStatus.REACHED, 10).people
    assert at == T(100)
    # Without a window the earliest start is the chain, and it goes all the way.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C"))
    assert people(result) == [1, 1, 1]
    assert result.steps[1].time_from_previous.median_seconds == 150.0
    # The window bound is inclusive: t_k <= t_0 + window.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", window=50))
    assert people(result) == [1, 1]


async def test_window_is_seconds_whatever_the_session_time_zone(services, project):
    # Europe/Paris moves to summer time on 2024-03-31 at 01:00 UTC: a calendar day
    # there is 23 hours. A window of 86400 s is 24 hours all the same.
    a = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)
    await services.ingest.record_events(
        project.id, [EventIn("dst", "A", None, a), EventIn("dst", "B", None, a + timedelta(hours=23, minutes=30))]
    )
    s = FunnelSpec((FunnelStepSpec("A"), FunnelStepSpec("B")), a - timedelta(days=1), a + timedelta(days=2), 86400)
    async with services.pool.acquire() as conn:
        await conn.execute("SET TimeZone = 'Europe/Paris'")
        try:
            assert people(await compute_funnel(conn, project.id, s)) == [1, 1]
        finally:
            await conn.execute("RESET TimeZone")


async def test_earliest_start_with_the_highest_level_is_the_chain(services, project):
    # Both starts reach B; the chain is the earliest, so B is 200 s after A.
    await record(services, project, ("e", "A", 0), ("e", "A", 100), ("e", "B", 200))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", window=1000))
    assert result.steps[1].time_from_previous.median_seconds == 200.0


async def test_later_start_beats_earlier_one_with_filters_and_no_window(services, project):
    # Steps A, A[x=0]: the first A (x=0) has no other A with x=0 after it, but the
    # second A (x=1, same second) does — the first one. "With no window the
    # earliest start is always best" does not hold here; the rule (highest level,
    # then earliest start) does.
    await record(services, project, ("f", "A", 0, {"x": 0}), ("f", "A", 0, {"x": 1}))
    zero = [PropertyFilter("x", FilterOp.EQ, 0)]
    result = await compute_funnel(services.pool, project.id, spec("A", ("A", zero)))
    assert people(result) == [1, 1]


async def test_range_bounds(services, project):
    await record(
        services, project,
        ("before", "A", -1), ("before", "B", 1),      # start before from: not in
        ("edge", "A", 0), ("edge", "B", 604799),      # start at from, B just before to
        ("late", "A", 10), ("late", "B", 604800),     # B at to: not counted
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B"))
    assert people(result) == [2, 1]


async def test_empty_range(services, project):
    await record(services, project, ("x", "A", 0), ("x", "B", 1))
    result = await compute_funnel(
        services.pool, project.id,
        spec("A", "B", from_=T(3600), to=T(7200), segment=SegmentSpec(first_step_property="p")),
    )
    assert people(result) == [0, 0]
    assert [(s.conversion_from_previous, s.conversion_from_start, s.time_from_previous) for s in result.steps] == [
        (0.0, 0.0, None), (0.0, 0.0, None)
    ]
    assert result.segments == []
    assert result.people_page(0, StepStatus.REACHED, 10).people == []
    # from = to: an empty range too (as in cohort and revenue); to < from is refused.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", from_=T(0), to=T(0)))
    assert people(result) == [0, 0]
    with pytest.raises(BadInput) as e:
        spec("A", from_=T(5), to=T(4))
    assert e.value.field == "input.to"


async def test_person_merged_after_their_events(services, project):
    # Anonymous browsing, then a signup under another identity, then identify.
    await record(services, project, ("anon-1", "Visited", 0), ("user-1", "Signed Up", 60))
    await record(services, project, ("anon-2", "Visited", 0), ("user-2", "Signed Up", 60))
    steps = spec("Visited", "Signed Up")
    assert people(await compute_funnel(services.pool, project.id, steps)) == [2, 0]
    await services.ingest.identify(project.id, "anon-1", "user-1")
    await services.ingest.alias(project.id, "user-2", "anon-2")
    result = await compute_funnel(services.pool, project.id, steps)
    assert people(result) == [2, 2]
    assert set(page_ids(result, 1)) == {await pid(services, project, "user-1"), await pid(services, project, "user-2")}


async def test_step_filters(services, project):
    pro = [PropertyFilter("Plan", FilterOp.EQ, "pro")]
    big = [PropertyFilter("Amount", FilterOp.GTE, 100)]
    await record(
        services, project,
        ("a", "Viewed", 0, {"Plan": "pro"}), ("a", "Paid", 10, {"Amount": "150"}),
        ("b", "Viewed", 0, {"Plan": "free"}), ("b", "Paid", 10, {"Amount": 500}),
        ("c", "Viewed", 0, {"Plan": "pro"}), ("c", "Paid", 10, {"Amount": 50}), ("c", "Paid", 20, {"Amount": 100}),
    )
    result = await compute_funnel(services.pool, project.id, spec(("Viewed", pro), ("Paid", big)))
    assert people(result) == [2, 2]
    assert result.steps[1].time_from_previous.median_seconds == 15.0  # 10 and 20
    result = await compute_funnel(services.pool, project.id, spec("Viewed", ("Paid", big)))
    assert people(result) == [3, 3]


# ======================================================================= segments


async def test_segments_fold_into_null(services, project):
    # Values by people at step 0: a=3, b=2, c=2, d=1; limit 2 keeps a and b (b < c).
    events = []
    for i, (value, converts) in enumerate(
        [("a", 1), ("a", 1), ("a", 0), ("b", 1), ("b", 0), ("c", 1), ("c", 1), ("d", 1)]
    ):
        events += [(f"p{i}", "A", i, {"src": value})]
        if converts:
            events.append((f"p{i}", "B", 100 + i))
    events.append(("nul", "A", 50, {"src": None}))  # a JSON null is the text "null"
    events.append(("missing", "A", 51))
    await record(services, project, *events)
    result = await compute_funnel(
        services.pool, project.id, spec("A", "B", segment=SegmentSpec(first_step_property="src", limit=2))
    )
    got = [(s.value, s.steps[0].people, s.steps[1].people) for s in result.segments]
    # null holds c, d, "null" and the missing one: 5 people, the largest segment.
    assert got == [(None, 5, 3), ("a", 3, 2), ("b", 2, 1)]
    assert result.segments[0].comparison is None  # the default baseline: the first segment
    assert result.segments[1].comparison.baseline is None
    assert [s.conversion_rate for s in result.segments] == [3 / 5, 2 / 3, 1 / 2]
    assert people(result) == [10, 6]  # the overall steps ignore segments
    # Each segment's people lists hold its own people only.
    null_people = set(page_ids(result, 0, segment=0))
    assert len(null_people) == 5 and await pid(services, project, "nul") in null_people

    # limit 5 keeps every value; d and "null" tie at 1 (value ascending), null is last.
    result = await compute_funnel(
        services.pool, project.id, spec("A", "B", segment=SegmentSpec(first_step_property="src", limit=5))
    )
    got = [(s.value, s.steps[0].people) for s in result.segments]
    assert got == [("a", 3), ("b", 2), ("c", 2), ("d", 1), ("null", 1), (None, 1)]


async def test_segment_by_current_person_property(services, project):
    await record(services, project, ("u1", "A", 0), ("u1", "B", 1), ("u2", "A", 0), ("u3", "A", 0), ("u3", "B", 5))
    await services.ingest.set_properties(project.id, "u1", {"Plan": "pro"}, T(-100))
    await services.ingest.set_properties(project.id, "u2", {"Plan": "pro"}, T(-100))
    await services.ingest.set_properties(project.id, "u3", {"Plan": 7}, T(-100))
    await services.ingest.set_properties(project.id, "u3", {"Plan": "free"}, T(-200))  # older: not current
    result = await compute_funnel(
        services.pool, project.id, spec("A", "B", segment=SegmentSpec(person_property="Plan"))
    )
    assert [(s.value, s.steps[0].people, s.steps[1].people) for s in result.segments] == [("pro", 2, 1), ("7", 1, 1)]


async def test_baseline_comparison(services, project):
    # control: 10 people, 2 convert; variant: 10 people, 6 convert.
    events = []
    for i in range(20):
        group = "control" if i < 10 else "variant"
        events.append((f"x{i}", "A", i, {"v": group}))
        if (i < 2) or (10 <= i < 16):
            events.append((f"x{i}", "B", 100 + i))
    await record(services, project, *events)
    seg = SegmentSpec(first_step_property="v", baseline="control")
    result = await compute_funnel(services.pool, project.id, spec("A", "B", segment=seg))
    control, variant = result.segments  # equal sizes: value ascending
    assert (control.value, variant.value) == ("control", "variant")
    assert control.comparison is None
    c = variant.comparison
    expected = stats.significance(6, 10, 2, 10)
    assert c.baseline == "control"
    assert c.lift == pytest.approx(2.0)
    assert (c.z_score, c.p_value, c.probability_to_beat_baseline, c.significant) == (
        expected.z_score, expected.p_value, expected.probability_to_beat_baseline, expected.significant
    )
    assert c.z_score == pytest.approx(1.8257418583505538)
    assert c.p_value == pytest.approx(0.0678892, abs=1e-6)
    assert not c.significant
    assert c.probability_to_beat_baseline == pytest.approx(0.95975, abs=1e-4)  # P(Beta(7,5) > Beta(3,9))

    # The other way round, and a baseline that names no segment: no comparisons.
    result = await compute_funnel(
        services.pool, project.id, spec("A", "B", segment=SegmentSpec(first_step_property="v", baseline="variant"))
    )
    assert result.segments[0].comparison.lift == pytest.approx((0.2 - 0.6) / 0.6)
    assert result.segments[1].comparison is None
    result = await compute_funnel(
        services.pool, project.id, spec("A", "B", segment=SegmentSpec(first_step_property="v", baseline="nope"))
    )
    assert [s.comparison for s in result.segments] == [None, None]


# ======================================================================= result and spec


async def test_result_pickles_and_spec_is_hashable(services, project):
    await record(services, project, ("a", "A", 0), ("a", "B", 1), ("b", "A", 2))
    s = spec("A", ("B", [PropertyFilter("k", FilterOp.IN, [1, "2"])]), segment=SegmentSpec(person_property="x"))
    result = await compute_funnel(services.pool, project.id, s)
    result.people_page(0, StepStatus.REACHED, 1)  # fills the transient order cache
    again = pickle.loads(pickle.dumps(result))
    assert again.steps == result.steps and again.segments == result.segments
    assert page_ids(again, 0) == page_ids(result, 0)
    assert hash(s) == hash(spec("A", ("B", [PropertyFilter("k", FilterOp.IN, [1, "2"])]), segment=SegmentSpec(person_property="x")))
    # Normalised: filter order and time zone do not matter; the window does.
    f1, f2 = PropertyFilter("a", FilterOp.EQ, 1), PropertyFilter("b", FilterOp.EXISTS)
    cet = timezone(timedelta(hours=1))
    a = spec(("A", [f1, f2]), "B")
    b = spec(("A", [f2, f1]), "B", from_=FROM.astimezone(cet), to=TO.astimezone(cet))
    assert a == b and a.cache_key() == b.cache_key()
    assert a.cache_key() != spec(("A", [f1, f2]), "B", window=60).cache_key()


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: spec(), "input.steps"),
        (lambda: spec(*["A"] * 21), "input.steps"),
        (lambda: spec("A", ""), "input.steps[1].event"),
        (lambda: spec("A", "B\x00"), "input.steps[1].event"),
        (lambda: spec("A", to=FROM - timedelta(seconds=1)), "input.to"),
        (lambda: spec("A", window=0), "input.conversionWindowSeconds"),
        (lambda: spec("A", segment=SegmentSpec()), "input.segmentBy"),
        (lambda: spec("A", segment=SegmentSpec("a", "b")), "input.segmentBy"),
        (lambda: spec("A", segment=SegmentSpec("a", limit=0)), "input.segmentBy.limit"),
        (lambda: spec("A", segment=SegmentSpec("a", limit=101)), "input.segmentBy.limit"),
        (lambda: spec(("A", [PropertyFilter("k", FilterOp.IN, 3)])), "input.steps[0].where[0].value"),
    ],
)
def test_spec_validation(build, field):
    with pytest.raises(BadInput) as e:
        build()
    assert e.value.field == field


# ======================================================================= GraphQL

FUNNEL = """
query($input: FunnelInput!, $status: StepStatus! = REACHED, $first: Int! = 50, $after: String) {
  funnel(input: $input) {
    computedAt cached
    steps {
      index event people droppedOff conversionFromPrevious conversionFromStart
      timeFromPrevious { count medianSeconds meanSeconds p90Seconds histogram { upToSeconds people } }
      peopleList(status: $status, first: $first, after: $after) {
        totalCount nodes { id identities } pageInfo { hasNextPage endCursor }
      }
    }
    segments {
      value conversionRate
      steps { index people peopleList(first: 100) { totalCount nodes { id } } }
      comparison { baseline lift zScore pValue probabilityToBeatBaseline significant }
    }
  }
}
"""


async def test_graphql_funnel_and_people_list_pagination(read_client, services, project):
    # Five people reach A at 0..4 s; p0, p2, p4 reach B (in reverse order of time).
    events = [(f"p{i}", "A", i) for i in range(5)]
    events += [("p4", "B", 10), ("p2", "B", 20), ("p0", "B", 30)]
    await record(services, project, *events)
    ids = {f"p{i}": str(await pid(services, project, f"p{i}")) for i in range(5)}
    variables = {"input": gql_input("A", "B")}

    data = (await read_client(FUNNEL, variables))["funnel"]
    a, b = data["steps"]
    assert (a["people"], b["people"], b["droppedOff"]) == (5, 3, 2)
    assert (a["conversionFromPrevious"], b["conversionFromPrevious"], b["conversionFromStart"]) == (1.0, 0.6, 0.6)
    assert a["timeFromPrevious"] is None
    assert b["timeFromPrevious"]["count"] == 3
    assert b["timeFromPrevious"]["medianSeconds"] == 18.0  # 6, 18, 30
    assert b["timeFromPrevious"]["histogram"][0] == {"upToSeconds": 60.0, "people": 3}
    assert [b_["upToSeconds"] for b_ in b["timeFromPrevious"]["histogram"]][-1] is None
    assert [n["id"] for n in a["peopleList"]["nodes"]] == [ids[f"p{i}"] for i in range(5)]
    assert [n["id"] for n in b["peopleList"]["nodes"]] == [ids["p4"], ids["p2"], ids["p0"]]
    assert b["peopleList"]["nodes"][0]["identities"] == ["p4"]
    assert data["segments"] == []

    # REACHED at step 1, two at a time, by the time they reached B.
    seen, after = [], None
    for _ in range(3):
        page = (await read_client(FUNNEL, {**variables, "first": 2, "after": after}))["funnel"]["steps"][1]["peopleList"]
        seen += [n["id"] for n in page["nodes"]]
        assert page["totalCount"] == 3
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [ids["p4"], ids["p2"], ids["p0"]]

    # DROPPED at step 1: p1 and p3, by the time they reached A; empty at step 0.
    data = (await read_client(FUNNEL, {**variables, "status": "DROPPED", "first": 1}))["funnel"]
    a, b = data["steps"]
    assert a["peopleList"] == {"totalCount": 0, "nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert [n["id"] for n in b["peopleList"]["nodes"]] == [ids["p1"]]
    assert b["peopleList"]["pageInfo"]["hasNextPage"] is True
    query = """query($input: FunnelInput!, $after: String) { funnel(input: $input) { steps {
        peopleList(status: DROPPED, first: 1, after: $after) { nodes { id } pageInfo { hasNextPage } } } } }"""
    data = await read_client(query, {**variables, "after": b["peopleList"]["pageInfo"]["endCursor"]})
    page = data["funnel"]["steps"][1]["peopleList"]
    assert [n["id"] for n in page["nodes"]] == [ids["p3"]] and page["pageInfo"]["hasNextPage"] is False

    # A cursor of another kind of list is refused.
    people = await read_client("{ people(first: 1) { pageInfo { endCursor } } }")
    errors = await read_client.errors(query, {**variables, "after": people["people"]["pageInfo"]["endCursor"]})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and errors[0]["extensions"]["field"] == "after"


async def test_graphql_is_cached_and_segments(read_client, services, project):
    await record(
        services, project,
        ("u1", "A", 0, {"v": "x"}), ("u1", "B", 5), ("u2", "A", 1, {"v": "y"}), ("u3", "A", 2, {"v": "x"}),
    )
    variables = {"input": gql_input("A", "B", segmentBy={"firstStepProperty": "v"})}
    first = (await read_client(FUNNEL, variables))["funnel"]
    second = (await read_client(FUNNEL, variables))["funnel"]
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["computedAt"] == second["computedAt"]
    assert first["steps"] == second["steps"]
    x, y = first["segments"]
    assert (x["value"], x["conversionRate"], y["value"], y["conversionRate"]) == ("x", 0.5, "y", 0.0)
    assert x["comparison"] is None
    assert y["comparison"]["baseline"] == "x" and y["comparison"]["lift"] == -1.0
    assert x["steps"][0]["peopleList"]["totalCount"] == 2
    assert y["steps"][0]["peopleList"]["nodes"] == [{"id": str(await pid(services, project, "u2"))}]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"steps": []}, "input.steps"),
        ({"to": (FROM - timedelta(microseconds=1)).isoformat()}, "input.to"),
        ({"conversionWindowSeconds": -5}, "input.conversionWindowSeconds"),
        ({"segmentBy": {"personProperty": "a", "limit": 500}}, "input.segmentBy.limit"),
        ({"segmentBy": {"limit": 5}}, "input.segmentBy"),
        ({"steps": [{"event": "A", "where": [{"key": "", "op": "EQ", "value": 1}]}]}, "input.steps[0].where[0].key"),
    ],
)
async def test_graphql_bad_input(read_client, change, field):
    errors = await read_client.errors(FUNNEL, {"input": {**gql_input("A", "B"), **change}})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == field


async def test_graphql_write_key_is_forbidden(write_client):
    errors = await write_client.errors(FUNNEL, {"input": gql_input("A")})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"

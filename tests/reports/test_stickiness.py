"""The stickiness report (DESIGN.md §5 "Stickiness"): each edge case of the
text, through ReportService.report as the server runs it."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.periods import Period
from app.reports.population import Population
from app.reports.stickiness import STICKINESS, STICKINESS_PEOPLE, StickinessPeopleSpec, StickinessSpec
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.reference import stickiness as reference_stickiness
from tests.support.server import make_project
from tests.support.worlds import stored

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def at(days: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, seconds=seconds)


async def world(services, events):
    project = await make_project(services, "sticky")
    await services.ingest.record_events(project.id, [EventIn(i, n, p, t) for i, n, t, p in events])
    return project


async def run(services, project, event="Go", from_=T0, to=T0 + 4 * DAY, **kw):
    spec = StickinessSpec(event, from_, to, **kw)
    return (await services.reports.report(STICKINESS, project.id, spec)).value, spec


def buckets(result) -> list[int]:
    return [b.people for b in result.buckets]


async def test_people_by_distinct_active_periods_with_zero_buckets(services):
    project = await world(services, [
        ("a", "Go", at(0), {}), ("a", "Go", at(0), {}), ("a", "Go", at(0, 5), {}),   # one day, many events
        ("b", "Go", at(0), {}), ("b", "Go", at(2), {}),
        ("c", "Go", at(0), {}), ("c", "Go", at(1), {}), ("c", "Go", at(3, 86399), {}),
        ("d", "Go", at(-1), {}), ("d", "Go", at(4), {}),                              # outside the range
        ("e", "Other", at(1), {}),
    ])
    result, _ = await run(services, project)
    assert result.intervals == 4
    assert [b.periods for b in result.buckets] == [1, 2, 3, 4]
    assert buckets(result) == [1, 1, 1, 0]


async def test_k_counts_partial_periods_and_an_empty_range_has_no_bucket(services):
    project = await world(services, [("a", "Go", at(0, 100), {}), ("a", "Go", at(1, 100), {})])
    # From Monday 00:00:50 to Wednesday 00:00:01: three days overlap.
    result, _ = await run(services, project, from_=at(0, 50), to=at(2, 1))
    assert (result.intervals, buckets(result)) == (3, [0, 1, 0])
    result, _ = await run(services, project, from_=at(0, 50), to=at(0, 50))
    assert (result.intervals, buckets(result)) == (0, [])
    result, _ = await run(services, project, from_=at(-3), to=at(20), interval=Period.WEEK)
    assert (result.intervals, buckets(result)) == (4, [1, 0, 0, 0])
    result, _ = await run(services, project, from_=at(0), to=at(1), interval=Period.HOUR)
    assert (result.intervals, buckets(result)) == (24, [1] + [0] * 23)


async def test_where_people_filter_and_merges(services):
    project = await world(services, [
        ("anon", "Go", at(0), {"k": 1}), ("user", "Go", at(1), {"k": "1"}), ("x", "Go", at(0), {"k": 2}),
    ])
    result, _ = await run(services, project, where=(PropertyFilter("k", FilterOp.LT, 2),))
    assert buckets(result) == [2, 0, 0, 0]
    await services.ingest.identify(project.id, "anon", "user")
    result, _ = await run(services, project, to=at(4, 1), where=(PropertyFilter("k", FilterOp.LT, 2),))
    assert buckets(result)[:2] == [0, 1]
    await services.ingest.set_properties(project.id, "x", {"plan": "pro"}, T0)
    pros = Population(properties=(PropertyFilter("plan", FilterOp.EQ, "pro"),))
    result, _ = await run(services, project, to=at(4, 2), people=pros)
    assert buckets(result)[:2] == [1, 0]


async def test_people_list_of_a_bucket_by_id_in_pages(services):
    project = await world(services, [(f"p{i}", "Go", at(d), {}) for i in range(7) for d in range(1 + i % 2)])
    result, spec = await run(services, project)
    assert buckets(result) == [4, 3, 0, 0]

    async def page(periods, first, after=None):
        s = StickinessPeopleSpec(spec, periods, first, after)
        return (await services.reports.report(STICKINESS_PEOPLE, project.id, s)).value

    ones = await page(1, 10)
    assert ones.total == 4 and list(ones.ids) == sorted(ones.ids) and not ones.has_next_page
    first = await page(1, 3)
    assert first.ids == ones.ids[:3] and first.has_next_page
    rest = await page(1, 3, first.ids[-1])
    assert rest.ids == ones.ids[3:] and not rest.has_next_page and rest.total == 4
    assert (await page(3, 10)).total == 0


def test_bad_input_names_the_field():
    def refused(field, **kw):
        args = dict(event="Go", from_=T0, to=T0 + DAY)
        args.update(kw)
        with pytest.raises(BadInput) as e:
            StickinessSpec(**args)
        assert e.value.field == field, e.value

    refused("input.event", event="")
    refused("input.event", event="x" * 256)
    refused("input.to", to=T0 - DAY)
    refused("input.interval", to=T0 + 500 * DAY, interval=Period.HOUR)
    refused("input.where[1].value", where=(PropertyFilter("a"), PropertyFilter("a", FilterOp.GT, [1])))


@pytest.mark.parametrize("interval, from_, to, k", [
    (Period.DAY, at(0, 50), at(63, 50000), 64),         # 64 periods: the mask's last bit (the sign bit)
    (Period.DAY, at(0, 50), at(64, 1), 65),             # 65: count(DISTINCT)
    (Period.HOUR, at(0, 1800), at(2, 1800), 49),        # a partial first and last hour
    (Period.HOUR, at(0), at(5), 120),
    (Period.WEEK, at(-3), at(120), 19),
    (Period.DAY, at(-2, 1), at(61, 7), 64),             # a day's bit counted from the first day's midnight
    (Period.WEEK, at(-123, 3600), at(318), 64),         # from a Thursday: weeks from its Monday; the sign bit
    (Period.WEEK, at(-123, 3600), at(325), 65),
    (Period.MONTH, at(-70), at(300), 13),               # calendar months of 28-31 days
    (Period.DAY, at(0), at(1), 1),                      # one period: no bounds
])
async def test_periods_at_their_bounds_against_the_oracle(services, interval, from_, to, k):
    # Events on each side of period bounds (the first and last microsecond of
    # a day, an hour, a month), spread over several hundred days: the bit mask
    # (up to 64 periods) and count(DISTINCT) (more) must agree with the oracle.
    rng = random.Random(k)
    us = timedelta(microseconds=1)
    times = [at(d) + s for d in range(-2, 70) for s in (timedelta(0), -us, timedelta(hours=1), timedelta(hours=1) - us)]
    times += [datetime(2024, m, 1, tzinfo=UTC) + s for m in range(1, 13) for s in (timedelta(0), -us)]
    times += [at(rng.uniform(-80, 320)) for _ in range(200)]
    events = [(f"p{rng.randrange(12)}", rng.choice(["Go", "Go", "Other"]), t, {}) for t in times]
    events += [("daily", "Go", at(d, 43200), {}) for d in range(-2, 70)]  # every period of a DAY range
    project = await world(services, events)
    result, spec = await run(services, project, from_=from_, to=to, interval=interval)

    stored_events, person_props = await stored(services, project.id)
    want = reference_stickiness(stored_events, person_props, "Go", None, spec.from_, spec.to, interval.value, None)
    assert result.intervals == want["intervals"] == k
    assert [(b.periods, b.people) for b in result.buckets] == [(w["periods"], w["people"]) for w in want["buckets"]]
    assert sum(b.people for b in result.buckets) >= 2
    for b, w in zip(result.buckets, want["buckets"]):
        if w["people"]:
            page = (await services.reports.report(
                STICKINESS_PEOPLE, project.id, StickinessPeopleSpec(spec, b.periods, 100))).value
            assert [str(i) for i in page.ids] == w["peopleIds"], b.periods


@pytest.mark.parametrize("outside", [None, "at to", "before from", "no event"])
async def test_a_range_covering_every_event_of_the_name_or_not(services, parts, outside):
    # A part leaves out the range's conditions when every event of the name
    # is in [from, to) (statement.range_covered): one event exactly at `to`
    # or a microsecond before `from` must keep them (it is not counted).
    rng = random.Random(5)
    events = [(f"p{rng.randrange(8)}", "Go", at(rng.uniform(0, 7)), {}) for _ in range(60)]
    events += [("p0", "Go", at(0), {}), ("p1", "Go", at(7) - timedelta(microseconds=1), {}), ("q", "Other", at(-9), {})]
    if outside == "at to":
        events.append(("late", "Go", at(7), {}))
    elif outside == "before from":
        events.append(("p2", "Go", at(0) - timedelta(microseconds=1), {}))
    elif outside == "no event":
        events = [e for e in events if e[1] != "Go"]
    project = await world(services, events)
    result, spec = await run(services, project, from_=at(0), to=at(7))
    stored_events, person_props = await stored(services, project.id)
    want = reference_stickiness(stored_events, person_props, "Go", None, spec.from_, spec.to, "DAY", None)
    assert [(b.periods, b.people) for b in result.buckets] == [(w["periods"], w["people"]) for w in want["buckets"]]
    assert sum(b.people for b in result.buckets) == (0 if outside == "no event" else 8)

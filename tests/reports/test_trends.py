"""The trends report (DESIGN.md §5 "Trends"): each edge case of the text,
through ReportService.report as the server runs it."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.periods import Period
from app.reports.population import Population
from app.reports.trends import TRENDS, TRENDS_PEOPLE, BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
from app.reports.trends.statement import build, build_per_shard
from app.storage import cluster
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.server import make_project

# Every test with the report service's parts (build_parts) and as the one statement.
pytestmark = pytest.mark.usefixtures("parts")

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def at(days: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, seconds=seconds)


async def world(services, events, sets=()) -> object:
    project = await make_project(services, "trends")
    await services.ingest.record_events(project.id, [EventIn(i, n, p, t) for i, n, t, p in events])
    for identity, props in sets:
        await services.ingest.set_properties(project.id, identity, props, T0)
    return project


async def run(services, project, *series, from_=T0, to=T0 + 3 * DAY, interval=Period.DAY, breakdown=None,
              people=None):
    spec = TrendsSpec(tuple(series), from_, to, interval, breakdown, people)
    return (await services.reports.report(TRENDS, project.id, spec)).value, spec


def values(series) -> list:
    return [p.value for p in series.points]


async def test_every_math_with_empty_periods_and_the_total(services):
    project = await world(services, [
        ("a", "Buy", at(0), {"Amount": 10}),
        ("a", "Buy", at(0, 60), {"Amount": "2.5"}),      # a numeric string counts
        ("b", "Buy", at(0, 3600), {"Amount": "lots"}),   # not a number: counted, not summed
        ("b", "Buy", at(2), {"Amount": 4}),
        ("c", "Buy", at(2, 10), {}),
        ("a", "Buy", at(2, 20), {"Amount": 1}),
        ("a", "Buy", at(-1), {"Amount": 100}),           # before the range
        ("a", "Buy", at(3), {"Amount": 100}),            # at `to`: outside
        ("a", "View", at(0), {"Amount": 1000}),
    ])
    maths = [SeriesSpec("Buy", math=m, property="Amount" if m.of_property else None) for m in TrendMath]
    result, _ = await run(services, project, *maths)
    got = {s.math: (values(s), s.total) for s in result.series}
    assert [s.index for s in result.series] == list(range(8))
    assert all(s.breakdown_value is None for s in result.series)
    assert [p.start for p in result.series[0].points] == [T0, T0 + DAY, T0 + 2 * DAY]
    assert got[TrendMath.TOTAL] == ([3, 0, 3], 6)
    # PEOPLE over the range is distinct people (a, b, c = 3), not 2 + 3.
    assert got[TrendMath.PEOPLE] == ([2, 0, 3], 3)
    assert got[TrendMath.EVENTS_PER_PERSON] == ([1.5, 0, 1.0], 2.0)
    assert got[TrendMath.SUM] == ([12.5, 0, 5], 17.5)
    assert got[TrendMath.AVERAGE] == ([6.25, None, 2.5], 17.5 / 4)
    assert got[TrendMath.MIN] == ([2.5, None, 1], 1)
    assert got[TrendMath.MAX] == ([10, None, 4], 10)
    # Median of an even count: the mean of the two middle values (1, 2.5, 4, 10 -> 3.25).
    assert got[TrendMath.MEDIAN] == ([6.25, None, 2.5], 3.25)


async def test_no_event_at_all(services):
    project = await world(services, [("a", "Other", at(0), {})])
    maths = [SeriesSpec("Buy", math=m, property="x" if m.of_property else None) for m in TrendMath]
    result, _ = await run(services, project, *maths, to=at(2))
    got = {s.math: (values(s), s.total) for s in result.series}
    for m in (TrendMath.TOTAL, TrendMath.PEOPLE, TrendMath.EVENTS_PER_PERSON, TrendMath.SUM):
        assert got[m] == ([0, 0], 0), m
    for m in (TrendMath.AVERAGE, TrendMath.MIN, TrendMath.MAX, TrendMath.MEDIAN):
        assert got[m] == ([None, None], None), m


async def test_sums_are_exact(services):
    project = await world(services, [
        ("a", "Pay", at(0), {"v": "0.1"}), ("a", "Pay", at(0, 1), {"v": 0.2}),
        ("a", "Pay", at(0, 2), {"v": "12345678901234567890.01"}), ("a", "Pay", at(0, 3), {"v": "-12345678901234567890"}),
    ])
    result, _ = await run(services, project, SeriesSpec("Pay", math=TrendMath.SUM, property="v"), to=at(1))
    assert result.series[0].total == pytest.approx(0.31, abs=1e-12)  # in floats: 0.0 or 2048


async def test_a_range_inside_periods_counts_only_its_events_and_weeks_start_on_monday(services):
    project = await world(services, [
        ("a", "Go", at(-6), {}), ("a", "Go", at(0, 3600), {}), ("b", "Go", at(9), {}), ("b", "Go", at(10), {}),
        ("b", "Go", at(10, 43200), {}),  # at `to`
    ])
    # Wednesday noon to the next Thursday noon: two ISO weeks, from Monday.
    result, _ = await run(services, project, SeriesSpec("Go"), from_=at(-5, 43200), to=at(10, 43200),
                          interval=Period.WEEK)
    assert [(p.start, p.value) for p in result.series[0].points] == [
        (T0 - 7 * DAY, 0), (T0, 1), (T0 + 7 * DAY, 2)]
    result, _ = await run(services, project, SeriesSpec("Go"), from_=at(0, 7200), to=at(40), interval=Period.MONTH)
    assert [(p.start, p.value) for p in result.series[0].points] == [
        (datetime(2024, 3, 1, tzinfo=UTC), 3), (datetime(2024, 4, 1, tzinfo=UTC), 0)]
    result, _ = await run(services, project, SeriesSpec("Go"), from_=T0, to=T0)
    assert result.series[0].points == () and result.series[0].total == 0


async def test_where_filters_and_the_people_filter(services):
    project = await world(services, [
        ("a", "Go", at(0), {"k": "x"}), ("b", "Go", at(0), {"k": "y"}), ("c", "Go", at(1), {"k": "x"}),
        ("c", "Flag", at(-10), {}),
    ], sets=[("a", {"plan": "pro"}), ("c", {"plan": "pro"})])
    where = (PropertyFilter("k", FilterOp.EQ, "x"),)
    result, _ = await run(services, project, SeriesSpec("Go", where, TrendMath.PEOPLE))
    assert result.series[0].total == 2
    pros = Population(properties=(PropertyFilter("plan", FilterOp.EQ, "pro"),))
    result, _ = await run(services, project, SeriesSpec("Go"), people=pros)
    assert values(result.series[0]) == [1, 1, 0]
    flagged = Population(did_event="Flag")
    result, _ = await run(services, project, SeriesSpec("Go"), people=flagged)
    assert values(result.series[0]) == [0, 1, 0]


async def test_events_count_for_the_person_they_resolve_to_now(services):
    project = await world(services, [("anon", "Go", at(0), {}), ("user", "Go", at(1), {})])
    result, _ = await run(services, project, SeriesSpec("Go", math=TrendMath.PEOPLE))
    assert result.series[0].total == 2
    await services.ingest.identify(project.id, "anon", "user")
    result, _ = await run(services, project, SeriesSpec("Go", math=TrendMath.PEOPLE), to=at(2, 1))
    assert result.series[0].total == 1


async def test_breakdown_by_event_property(services):
    events = [("a", "Go", at(0), {"k": v}) for v in ["b", "b", "a", "a", 1, 1, "1", True, None]]
    events += [("a", "Go", at(1), {}), ("a", "Go", at(1), {"k": "c"}), ("a", "Other", at(1), {"k": "z"})]
    project = await world(services, events)
    result, _ = await run(services, project, SeriesSpec("Go"), SeriesSpec("Other"),
                          breakdown=BreakdownSpec(event_property="k", limit=3))
    # a number is its JSON text: 1 and "1" are the same value "1" (3 events);
    # "a" and "b" tie at 2, value ascending; true, null (JSON "null"), "c"
    # and the missing one join the null series, last.
    got = [(s.index, s.breakdown_value, s.total, values(s)) for s in result.series]
    assert got == [
        (0, "1", 3, [3, 0, 0]), (0, "a", 2, [2, 0, 0]), (0, "b", 2, [2, 0, 0]), (0, None, 4, [2, 2, 0]),
        (1, "z", 1, [0, 1, 0]),
    ]
    # limit large enough for all: no null series for Other, and Go's null series
    # is only the missing one.
    result, _ = await run(services, project, SeriesSpec("Go"), breakdown=BreakdownSpec(event_property="k", limit=10))
    assert [(s.breakdown_value, s.total) for s in result.series] == [
        ("1", 3), ("a", 2), ("b", 2), ("c", 1), ("null", 1), ("true", 1), (None, 1)]


async def test_breakdown_by_person_property_uses_the_current_value(services):
    project = await world(services, [
        ("a", "Go", at(0), {}), ("b", "Go", at(0), {}), ("b", "Go", at(1), {}), ("c", "Go", at(1), {}),
    ], sets=[("a", {"plan": "free"}), ("b", {"plan": "pro"})])
    await services.ingest.set_properties(project.id, "a", {"plan": "pro"}, at(5))
    result, _ = await run(services, project, SeriesSpec("Go", math=TrendMath.PEOPLE),
                          breakdown=BreakdownSpec(person_property="plan"))
    assert [(s.breakdown_value, s.total, values(s)) for s in result.series] == [
        ("pro", 2, [2, 1, 0]), (None, 1, [0, 1, 0])]


async def test_no_series_without_events_under_a_breakdown(services):
    project = await world(services, [("a", "Go", at(0), {})])
    result, _ = await run(services, project, SeriesSpec("Nothing"), breakdown=BreakdownSpec(event_property="k"))
    assert result.series == ()


async def test_people_list_of_a_people_point_by_id_in_pages(services):
    project = await world(services, [(f"p{i}", "Go", at(0, i), {"k": "x" if i < 5 else "y"}) for i in range(8)]
                          + [("p0", "Go", at(1), {})])
    result, spec = await run(services, project, SeriesSpec("Go", math=TrendMath.PEOPLE),
                             breakdown=BreakdownSpec(event_property="k", limit=1))
    x, rest = result.series
    assert (x.breakdown_value, x.total, rest.breakdown_value, rest.total) == ("x", 5, None, 4)

    async def page(series, rank, start, first, after=None):
        s = TrendPeopleSpec(spec, series, rank, start, first, after)
        return (await services.reports.report(TRENDS_PEOPLE, project.id, s)).value

    everyone = await page(0, 1, T0, 100)
    assert everyone.total == 5 and len(everyone.ids) == 5 and list(everyone.ids) == sorted(everyone.ids)
    first = await page(0, 1, T0, 2)
    assert first.ids == everyone.ids[:2] and first.has_next_page and first.total == 5
    second = await page(0, 1, T0, 3, first.ids[-1])
    assert second.ids == everyone.ids[2:] and not second.has_next_page
    others = await page(0, None, T0 + DAY, 10)
    assert others.total == 1 and len(others.ids) == 1


def test_bad_input_names_the_field():
    def refused(field, **kw):
        args = dict(series=(SeriesSpec("Go"),), from_=T0, to=T0 + DAY)
        args.update(kw)
        with pytest.raises(BadInput) as e:
            TrendsSpec(**args)
        assert e.value.field == field, e.value

    refused("input.series", series=())
    refused("input.series", series=(SeriesSpec("Go"),) * 11)
    refused("input.series[1].property", series=(SeriesSpec("Go"), SeriesSpec("Go", math=TrendMath.SUM)))
    refused("input.series[0].property", series=(SeriesSpec("Go", property="x"),))
    refused("input.series[0].event", series=(SeriesSpec(""),))
    refused("input.series[0].where[0].key", series=(SeriesSpec("Go", (PropertyFilter("", FilterOp.EQ, 1),)),))
    refused("input.to", to=T0 - DAY)
    refused("input.interval", to=T0 + 1000 * DAY, interval=Period.HOUR)
    refused("input.interval", to=T0 + 5000 * DAY, series=(SeriesSpec("Go"),) * 2, breakdown=BreakdownSpec(event_property="k"))
    with pytest.raises(BadInput) as e:
        BreakdownSpec()
    assert e.value.field == "input.breakdown"
    with pytest.raises(BadInput) as e:
        BreakdownSpec(event_property="a", person_property="b")
    assert e.value.field == "input.breakdown"
    with pytest.raises(BadInput) as e:
        BreakdownSpec(event_property="a", limit=0)
    assert e.value.field == "input.breakdown.limit"


def test_cache_key_is_the_normalised_input():
    a = TrendsSpec((SeriesSpec("Go", (PropertyFilter("a", FilterOp.EQ, 1), PropertyFilter("b", FilterOp.EQ, 2))),),
                   T0, T0 + DAY)
    b = TrendsSpec((SeriesSpec("Go", (PropertyFilter("b", FilterOp.EQ, 2), PropertyFilter("a", FilterOp.EQ, 1))),),
                   T0.astimezone(timezone(timedelta(hours=2))), T0 + DAY)
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != TrendsSpec((SeriesSpec("Go"),), T0, T0 + DAY, Period.HOUR).cache_key()


# ---------------------------------------------------------------- per shard (Citus)


async def test_a_median_per_shard_is_the_plain_statements(services):
    """A MEDIAN series per shard (the shards count each distinct value, the
    coordinator finds the middles: medians_from_counts_part) against
    percentile_disc's plain statement: odd and even counts, repeated values,
    events without the property, several periods and a breakdown; on plain
    PostgreSQL both statements run as they are, on a cluster the plain one
    through the coordinator's path."""
    project = await make_project(services, "trends-median-shard")
    rng = random.Random(7)
    t0 = T0
    events = []
    for _ in range(160):
        props = {"plan": rng.choice(["a", "b", "c"])}
        if rng.random() < 0.85:
            props["amount"] = rng.choice([1, 2, 2, 3, 5, 8, 8, 13, 21.5, -4])
        events.append(EventIn(f"u{rng.randrange(40)}", "Paid", props, t0 + timedelta(hours=rng.randrange(96))))
    await services.ingest.record_events(project.id, events)
    specs = [TrendsSpec((SeriesSpec("Paid", math=TrendMath.MEDIAN, property="amount"),
                         SeriesSpec("Paid", math=TrendMath.TOTAL)), t0, t0 + timedelta(days=4), interval,
                        **extra)
             for interval in (Period.DAY, Period.HOUR)
             for extra in ({}, {"breakdown": BreakdownSpec(event_property="plan")})]
    middles = set()
    for spec in specs:
        sql, params = build(project.id, spec)
        plain = sorted((dict(r) for r in await cluster.reads(services.pool).fetch(sql, *params)), key=repr)
        shard_sql, shard_params = build_per_shard(project.id, spec)
        per_shard = sorted((dict(r) for r in await services.pool.fetch(shard_sql, *shard_params)), key=repr)
        assert per_shard == plain, spec
        middles.update((r["median_low"] == r["median_high"]) for r in plain if r["median_low"] is not None)
    assert middles == {True, False}  # cells with one middle value and with two
    got = (await services.reports.report(TRENDS, project.id, specs[0])).value
    assert got.series[0].total is not None

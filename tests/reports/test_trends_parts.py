"""Trends in parts (app/reports/trends/statement.py `build_parts`,
assembly.py `fold_parts`): each range of person ids its own statement,
returning its cells per raw breakdown value and a MEDIAN's values sorted;
the assembly ranks the values over all the parts (events descending, then
value ascending in code points), folds the others into null, adds the cells
up and finds the medians' middles in the parts' sorted arrays. The answer
must be the one statement's exactly (same floats), for 2, 3 and 4 parts,
and through the report service (parts side by side in one snapshot).

The people are placed in the ranges of person ids on purpose: the ids are
read after the persons are made (a first event "Z", outside the series),
then the events and properties are given by range."""
from __future__ import annotations

import random
import statistics
import uuid
from datetime import datetime, timedelta, timezone

from app.ingest.validation import EventIn
from app.reports.periods import Period
from app.reports.trends import TRENDS, BreakdownSpec, SeriesSpec, TrendMath, TrendsResult, TrendsSpec
from app.reports.trends.assembly import assemble
from app.reports.trends.statement import build, build_parts, parts_add_up
from tests.support.server import make_project
from tests.support.parts import ON_CITUS_SKIP

pytestmark = ON_CITUS_SKIP

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HALF = uuid.UUID(int=1 << 127)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


async def people_by_range(services, project_id, n: int) -> tuple[list[str], list[str]]:
    """n people made by one "Z" event each (before the range): (the
    identities of the low half of the person ids, those of the high one)."""
    await services.ingest.record_events(project_id, [EventIn(f"p{i}", "Z", {}, T0 - 10 * DAY) for i in range(n)])
    rows = await services.pool.fetch("SELECT identity, person_id FROM identities WHERE project_id = $1", project_id)
    low = sorted((r["identity"] for r in rows if r["person_id"] < HALF), key=lambda s: int(s[1:]))
    high = sorted((r["identity"] for r in rows if r["person_id"] >= HALF), key=lambda s: int(s[1:]))
    return low, high


async def same_every_way(services, project_id, spec: TrendsSpec) -> TrendsResult:
    """The one statement's answer; the parts' (2, 3, 4 ranges, run one after
    another in one transaction) must be it exactly, and so must the report
    service's with its parts and without."""
    async with services.pool.acquire() as c:
        async with c.transaction(isolation="repeatable_read", readonly=True):
            await c.execute(TRENDS.settings)
            sql, params = build(project_id, spec)
            one = assemble(await c.fetch(sql, *params), spec, NOW)
            for n in (2, 3, 4):
                rows = []
                for sql, params in build_parts(project_id, spec, n):
                    rows += await c.fetch(sql, *params)
                assert assemble(rows, spec, NOW) == one, n
    was = services.reports.parts
    try:
        for parts in (2, 1):
            services.reports.parts = parts
            await services.reports.cache.clear()
            split = services.reports.split_computations["trends"]
            got = (await services.reports.report(TRENDS, project_id, spec)).value
            assert services.reports.split_computations["trends"] - split == (parts > 1 and parts_add_up(spec))
            assert got == one, parts
    finally:
        services.reports.parts = was
    return one


def summary(result: TrendsResult) -> list:
    return [(s.index, s.breakdown_value, s.total, [p.value for p in s.points]) for s in result.series]


async def test_a_value_top_in_one_part_but_not_overall_is_folded(services):
    """Overall "b" has 6 events, "Z" and "é" 5 each (the tie: "Z" first by
    code point, where a locale would put "é" first): limit 2 keeps b and Z.
    The low range alone would keep Z and b, the high range b and é: é folds
    into null with the missing values though one part alone keeps it."""
    project = await make_project(services, "trends-parts-fold")
    low, high = await people_by_range(services, project.id, 60)
    assert len(low) >= 12 and len(high) >= 12
    assigned = [(who, "Z") for who in low[:5]] + [(low[5], "b"), (low[6], None)]
    assigned += [(who, "b") for who in high[:5]] + [(who, "é") for who in high[5:10]] + [(high[10], None)]
    events = []
    for i, (who, value) in enumerate(assigned):
        props = {} if value is None else {"k": value}
        events.append(EventIn(who, "Go", {**props, "n": i % 7}, T0 + timedelta(hours=3 * i)))
        if props:
            await services.ingest.set_properties(project.id, who, props, T0)
    await services.ingest.record_events(project.id, events)
    maths = [SeriesSpec("Go", math=m, property="n" if m.of_property else None) for m in TrendMath]
    counting = [s for s in maths if s.math not in (TrendMath.PEOPLE, TrendMath.EVENTS_PER_PERSON)]
    by_person = await same_every_way(services, project.id, TrendsSpec(
        tuple(maths), T0, T0 + 3 * DAY, Period.DAY, BreakdownSpec(person_property="k", limit=2)))
    by_event = await same_every_way(services, project.id, TrendsSpec(
        tuple(counting), T0, T0 + 3 * DAY, Period.DAY, BreakdownSpec(event_property="k", limit=2)))
    for result in (by_person, by_event):
        totals = [(s.index, s.breakdown_value, s.total) for s in result.series if s.math is TrendMath.TOTAL]
        assert [t[1:] for t in totals] == [("b", 6), ("Z", 5), (None, 7)]
    people = [(s.breakdown_value, s.total) for s in by_person.series if s.math is TrendMath.PEOPLE]
    assert people == [("b", 6), ("Z", 5), (None, 7)]


async def test_people_by_an_event_property_is_the_one_statement(services):
    """By an event property a person may be in several values, so the
    people of the null series do not add up over the parts: build_parts is
    the one statement, and the service runs it."""
    project = await make_project(services, "trends-parts-people-by-event")
    low, high = await people_by_range(services, project.id, 20)
    events = [EventIn(who, "Go", {"k": v}, T0 + timedelta(hours=j))
              for who in low[:3] + high[:3] for j, v in enumerate(["x", "y", "z"])]
    await services.ingest.record_events(project.id, events)
    spec = TrendsSpec((SeriesSpec("Go", math=TrendMath.PEOPLE),), T0, T0 + 2 * DAY, Period.DAY,
                      BreakdownSpec(event_property="k", limit=1))
    assert not parts_add_up(spec) and len(build_parts(project.id, spec, 2)) == 1
    result = await same_every_way(services, project.id, spec)
    assert summary(result) == [(0, "x", 6, [6, 0]), (0, None, 6, [6, 0])]


async def test_medians_over_parts_even_and_odd_counts(services):
    """MEDIAN per period and over the range from both parts' sorted values:
    odd and even counts, repeated values, decimals and numeric strings,
    events without the value, with and without a breakdown; the figures
    also checked against statistics.median by hand."""
    project = await make_project(services, "trends-parts-median")
    low, high = await people_by_range(services, project.id, 40)
    # Two generators: who is picked from lists whose lengths depend on the
    # ids the database handed out, so the values' generator must not share
    # their draws (a shared one made the days' counts vary from run to run).
    rng, who_rng = random.Random(12), random.Random(13)
    amounts = [1, 2, 2, 3, 5, 8, 8, 13, "21.5", -4, "0.25", 100]
    events, seen = [], {}
    for i in range(90):
        who = who_rng.choice(low if i % 3 else high)
        day = rng.randrange(3) if i < 85 else 2
        props = {"plan": rng.choice(["a", "b", "c"])}
        if rng.random() < 0.85:
            props["amount"] = rng.choice(amounts)
            seen.setdefault(day, []).append(float(props["amount"]))
        events.append(EventIn(who, "Paid", props, T0 + day * DAY + timedelta(minutes=i)))
    await services.ingest.record_events(project.id, events)
    counts = {len(v) % 2 for v in seen.values()}
    assert counts == {0, 1} and len(seen) == 3, seen  # (both parities among the days, fixed by the seed)
    median = SeriesSpec("Paid", math=TrendMath.MEDIAN, property="amount")
    result = await same_every_way(services, project.id, TrendsSpec((median,), T0, T0 + 3 * DAY))
    (s,) = result.series
    assert [p.value for p in s.points] == [statistics.median(seen[d]) if d in seen else None for d in range(3)]
    assert s.total == statistics.median([v for d in seen.values() for v in d])
    for breakdown in (BreakdownSpec(event_property="plan", limit=2), BreakdownSpec(person_property="plan")):
        await same_every_way(services, project.id, TrendsSpec(
            (median, SeriesSpec("Paid", math=TrendMath.PEOPLE)) if breakdown.person_property else (median,),
            T0, T0 + 3 * DAY, Period.DAY, breakdown))


async def test_empty_parts(services):
    """Every person in the low range: the high range's part has no rows (and
    a part has no MEDIAN values where no event has the property); no event
    at all: no rows in any part."""
    project = await make_project(services, "trends-parts-empty")
    low, _ = await people_by_range(services, project.id, 10)
    await services.ingest.record_events(project.id, [
        EventIn(low[0], "Go", {"amount": 4}, T0), EventIn(low[1], "Go", {"amount": 7}, T0 + DAY),
        EventIn(low[1], "Go", {}, T0 + DAY)])
    maths = tuple(SeriesSpec("Go", math=m, property="amount" if m.of_property else None) for m in TrendMath)
    result = await same_every_way(services, project.id, TrendsSpec(maths, T0, T0 + 2 * DAY))
    assert [(s.math.value, s.total) for s in result.series] == [
        ("TOTAL", 3), ("PEOPLE", 2), ("EVENTS_PER_PERSON", 1.5), ("SUM", 11), ("AVERAGE", 5.5), ("MIN", 4),
        ("MAX", 7), ("MEDIAN", 5.5)]
    nothing = await same_every_way(services, project.id, TrendsSpec(
        tuple(SeriesSpec("Nothing", math=s.math, property=s.property) for s in maths), T0, T0 + 2 * DAY))
    assert [(s.total, [p.value for p in s.points]) for s in nothing.series] == [
        (0, [0, 0]), (0, [0, 0]), (0, [0, 0]), (0, [0, 0]), (None, [None, None]), (None, [None, None]),
        (None, [None, None]), (None, [None, None])]
    by = await same_every_way(services, project.id, TrendsSpec(
        maths, T0, T0 + 2 * DAY, Period.DAY, BreakdownSpec(person_property="plan")))
    assert [s.breakdown_value for s in by.series] == [None] * len(maths)
    none = await same_every_way(services, project.id, TrendsSpec(
        (SeriesSpec("Nothing"),), T0, T0 + 2 * DAY, Period.DAY, BreakdownSpec(event_property="k")))
    assert none.series == ()

"""The lifecycle report's edge cases (DESIGN.md §5 Lifecycle), one by name,
through ReportService (LIFECYCLE, LIFECYCLE_PEOPLE)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.lifecycle import LIFECYCLE, LIFECYCLE_PEOPLE, LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter

UTC = timezone.utc


def at(day: int, hour: int = 12, month: int = 1) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


async def record(services, project, *events: tuple) -> None:
    await services.ingest.record_events(
        project.id, [EventIn(who, name, props[0] if props else None, t) for who, name, t, *props in events])


async def points(services, project, **kw) -> list[tuple]:
    spec = LifecycleSpec(**{"event": "Used", **kw})
    result = (await services.reports.report(LIFECYCLE, project.id, spec)).value
    return [(p.start.day, p.new, p.returning, p.resurrecting, p.dormant) for p in result.points]


async def names(services, project, spec: LifecycleSpec, start: datetime, status: LifecycleStatus) -> list[str]:
    page = (await services.reports.report(
        LIFECYCLE_PEOPLE, project.id, LifecyclePeopleSpec(spec, start, status, 100))).value
    rows = await services.people.by_ids(project.id, list(page.people))
    assert list(page.people) == sorted(page.people)
    return sorted(rows[p].identities[0] for p in page.people)


async def test_history_before_from_decides_the_first_periods(services, project):
    await record(services, project,
                 ("old", "Used", at(1)), ("old", "Used", at(4)),    # a gap (the 1st, then the 4th): resurrecting
                 ("eve", "Used", at(3)), ("eve", "Used", at(4)),    # active the day before from: returning
                 ("gone", "Used", at(3)),                           # active the day before only: dormant
                 ("new", "Used", at(4)))
    assert await points(services, project, from_=at(4, 0), to=at(6, 0)) == [
        (4, 1, 1, 1, 1),   # new: new; returning: eve; resurrecting: old; dormant: gone
        (5, 0, 0, 0, 3),   # everyone active on the 4th is dormant on the 5th
    ]


async def test_a_first_period_that_starts_before_from_counts_whole(services, project):
    # from is at noon: the morning's event is in the period, so the person is active in it.
    await record(services, project, ("ann", "Used", at(3, 8)), ("bob", "Used", at(2, 8)), ("bob", "Used", at(3, 9)))
    assert await points(services, project, from_=at(3, 12), to=at(4, 12)) == [(3, 1, 1, 0, 0), (4, 0, 0, 0, 2)]


async def test_events_at_or_after_to_do_not_count(services, project):
    await record(services, project, ("ann", "Used", at(3)), ("ann", "Used", at(4, 12)), ("bob", "Used", at(4, 13)))
    # to is the 4th at 12:00: ann's noon event and bob's are not before it.
    assert await points(services, project, from_=at(3, 0), to=at(4, 12)) == [(3, 1, 0, 0, 0), (4, 0, 0, 0, 1)]


async def test_empty_periods_are_points_and_an_empty_range_has_none(services, project):
    await record(services, project, ("ann", "Used", at(2)))
    assert await points(services, project, from_=at(5, 0), to=at(8, 0)) == [(5, 0, 0, 0, 0)] * 1 + [
        (6, 0, 0, 0, 0), (7, 0, 0, 0, 0)]
    assert await points(services, project, from_=at(5, 0), to=at(5, 0)) == []


async def test_resurrecting_after_a_gap_and_dormant_is_positive(services, project):
    await record(services, project, ("ann", "Used", at(1)), ("ann", "Used", at(3)), ("ann", "Used", at(4)))
    spec = LifecycleSpec("Used", at(1, 0), at(6, 0))
    assert await points(services, project, from_=at(1, 0), to=at(6, 0)) == [
        (1, 1, 0, 0, 0), (2, 0, 0, 0, 1), (3, 0, 0, 1, 0), (4, 0, 1, 0, 0), (5, 0, 0, 0, 1)]
    assert await names(services, project, spec, at(3, 0), LifecycleStatus.RESURRECTING) == ["ann"]
    assert await names(services, project, spec, at(2, 0), LifecycleStatus.DORMANT) == ["ann"]
    assert await names(services, project, spec, at(2, 0), LifecycleStatus.NEW) == []


async def test_weeks_start_on_monday_and_months_are_calendar_months(services, project):
    # 2024-01-07 is a Sunday, the 8th a Monday.
    await record(services, project, ("ann", "Used", at(7)), ("ann", "Used", at(8)),
                 ("bob", "Used", at(31)), ("bob", "Used", at(1, month=2)), ("bob", "Used", at(1, month=4)))
    weeks = await points(services, project, from_=at(1, 0), to=at(15, 0), interval=Period.WEEK)
    assert weeks == [(1, 1, 0, 0, 0), (8, 0, 1, 0, 0)]
    months = await points(services, project, from_=at(1, 0), to=at(1, 0, month=5), interval=Period.MONTH)
    # Jan: ann and bob new; Feb: bob returning, ann dormant; Mar: bob dormant; Apr: bob resurrecting.
    assert months == [(1, 2, 0, 0, 0), (1, 0, 1, 0, 1), (1, 0, 0, 0, 1), (1, 0, 0, 1, 0)]


async def test_hours(services, project):
    await record(services, project, ("ann", "Used", at(3, 10)), ("ann", "Used", at(3, 12)))
    got = await points(services, project, from_=at(3, 10), to=at(3, 13), interval=Period.HOUR)
    assert [p[1:] for p in got] == [(1, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0)]


async def test_a_merged_person_counts_once_with_both_histories(services, project):
    await record(services, project, ("anon", "Used", at(2)), ("user", "Used", at(3)))
    assert await points(services, project, from_=at(3, 0), to=at(4, 0)) == [(3, 1, 0, 0, 1)]
    await services.ingest.identify(project.id, "anon", "user")
    assert await points(services, project, from_=at(3, 0), to=at(4, 0), people=Population(did_event="Used")) == [
        (3, 0, 1, 0, 0)]


async def test_where_decides_the_first_matching_event(services, project):
    await record(services, project, ("ann", "Used", at(2), {"plan": "free"}), ("ann", "Used", at(3), {"plan": "pro"}))
    pro = (PropertyFilter("plan", FilterOp.EQ, "pro"),)
    assert await points(services, project, from_=at(3, 0), to=at(4, 0)) == [(3, 0, 1, 0, 0)]
    assert await points(services, project, from_=at(3, 0), to=at(4, 0), where=pro) == [(3, 1, 0, 0, 0)]


async def test_the_population_filter(services, project):
    await record(services, project, ("ann", "Used", at(3)), ("bob", "Used", at(3)), ("bob", "Paid", at(1)))
    await services.ingest.set_properties(project.id, "ann", {"plan": "pro"})
    assert await points(services, project, from_=at(3, 0), to=at(4, 0),
                        people=Population(did_event="Paid")) == [(3, 1, 0, 0, 0)]
    spec = LifecycleSpec("Used", at(3, 0), at(4, 0),
                         people=Population(properties=(PropertyFilter("plan", FilterOp.EQ, "pro"),)))
    assert await names(services, project, spec, at(3, 0), LifecycleStatus.NEW) == ["ann"]


async def test_cached_with_its_computed_at(services, project):
    spec = LifecycleSpec("Used", at(3, 0), at(4, 0))
    first = await services.reports.report(LIFECYCLE, project.id, spec)
    again = await services.reports.report(LIFECYCLE, project.id, LifecycleSpec("Used", at(3, 0), at(4, 0)))
    assert (first.cached, again.cached, again.computed_at) == (False, True, first.computed_at)


@pytest.mark.parametrize("kw, field", [
    ({"event": ""}, "input.event"),
    ({"to": at(1)}, "input.to"),
    ({"from_": "yesterday"}, "input.from"),
    ({"interval": "YEAR"}, "input.interval"),
    ({"from_": datetime(2000, 1, 1, tzinfo=UTC), "to": datetime(2030, 1, 1, tzinfo=UTC)}, "input.interval"),
    ({"where": (PropertyFilter("", FilterOp.EQ, 1),)}, "input.where[0].key"),
])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(BadInput) as e:
        LifecycleSpec(**{"event": "Used", "from_": at(2), "to": at(3), **kw})
    assert e.value.field == field


def test_the_cache_key_is_the_normalised_input():
    a = LifecycleSpec("Used", at(2), at(3), (PropertyFilter("a", FilterOp.EQ, 1), PropertyFilter("b")))
    b = LifecycleSpec("Used", at(2).astimezone(timezone(timedelta(hours=2))), at(3),
                      (PropertyFilter("b"), PropertyFilter("a", FilterOp.EQ, 1)))
    assert a.cache_key() == b.cache_key() and a == b
    assert a.cache_key() != LifecycleSpec("Used", at(2), at(3), interval=Period.WEEK).cache_key()
    assert a.cache_key() != LifecycleSpec("Used", at(2), at(3), people=Population(did_event="x")).cache_key()


async def test_the_first_days_events_can_have_fall_in_a_week_begun_in_1999(services, project):
    # 2000-01-01 (the earliest timestamp ingestion takes) is a Saturday.
    await record(services, project, ("ann", "Used", datetime(2000, 1, 1, 5, tzinfo=UTC)),
                 ("ann", "Used", datetime(2000, 1, 3, 5, tzinfo=UTC)))
    spec = LifecycleSpec("Used", datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 10, tzinfo=UTC),
                         interval=Period.WEEK)
    result = (await services.reports.report(LIFECYCLE, project.id, spec)).value
    assert [(p.start, p.new, p.returning, p.dormant) for p in result.points] == [
        (datetime(1999, 12, 27, tzinfo=UTC), 1, 0, 0), (datetime(2000, 1, 3, tzinfo=UTC), 0, 1, 0)]

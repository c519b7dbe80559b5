"""Golden SQL: the trends and stickiness statements of each variant, built
from their spec and compared to the text stored in tests/reports/golden/
(the statement and its parameters). A change to a statement shows here as a
diff to review; WHODID_UPDATE_GOLDEN=1 rewrites the files."""
from __future__ import annotations

import uuid

from datetime import datetime, timezone

import pytest

from app.reports.periods import Period
from app.reports.population import Population
from app.reports.stickiness import StickinessPeopleSpec, StickinessSpec
from app.reports.stickiness.statement import build as stickiness_build, build_parts as stickiness_parts
from app.reports.stickiness.statement import build_people as stickiness_people
from app.reports.trends import BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
from app.reports.trends.statement import build as trends_build, build_parts as trends_parts
from app.reports.trends.statement import build_people as trends_people
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.golden import PROJECT, assert_golden, assert_one_placeholder_per_parameter

FROM, TO = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc)
WHERE = (PropertyFilter("Plan", FilterOp.EQ, "pro"), PropertyFilter("Items", FilterOp.GT, 2))
PEOPLE = Population(properties=(PropertyFilter("Country", FilterOp.EQ, "FR"),), did_event="Signed Up",
                    from_=FROM, to=TO)

TOTAL = TrendsSpec((SeriesSpec("Bought"),), FROM, TO)
EVERY_MATH = TrendsSpec(tuple(SeriesSpec("Bought", math=m, property="Items" if m.of_property else None)
                              for m in (TrendMath.PEOPLE, TrendMath.SUM, TrendMath.MEDIAN)), FROM, TO, Period.WEEK)
BY_EVENT = TrendsSpec((SeriesSpec("Bought", WHERE, TrendMath.PEOPLE), SeriesSpec("Viewed")), FROM, TO,
                      breakdown=BreakdownSpec(event_property="Plan", limit=5))
BY_EVENT_COUNTS = TrendsSpec((SeriesSpec("Bought", WHERE, TrendMath.MEDIAN, "Items"), SeriesSpec("Viewed")), FROM, TO,
                             breakdown=BreakdownSpec(event_property="Plan", limit=5))
BY_PERSON = TrendsSpec((SeriesSpec("Bought", math=TrendMath.AVERAGE, property="Items"),), FROM, TO, Period.MONTH,
                       BreakdownSpec(person_property="Country"), PEOPLE)
STICKY = StickinessSpec("Logged In", FROM, TO)
STICKY_FILTERED = StickinessSpec("Logged In", FROM, TO, WHERE, Period.WEEK, PEOPLE)
STICKY_MONTHS = StickinessSpec("Logged In", FROM, datetime(2024, 7, 1, tzinfo=timezone.utc), interval=Period.MONTH)

VARIANTS = {
    "trends_total": lambda: trends_build(PROJECT, TOTAL),
    "trends_maths": lambda: trends_build(PROJECT, EVERY_MATH),
    "trends_breakdown_event": lambda: trends_build(PROJECT, BY_EVENT),
    "trends_breakdown_person_population": lambda: trends_build(PROJECT, BY_PERSON),
    # parts of build_parts: the first of two with a MEDIAN, the second of
    # two by a person property, a middle one of three by an event property
    "trends_maths_part_1_of_2": lambda: trends_parts(PROJECT, EVERY_MATH, 2)[0],
    "trends_breakdown_person_population_part_2_of_2": lambda: trends_parts(PROJECT, BY_PERSON, 2)[1],
    "trends_breakdown_event_counts_part_2_of_3": lambda: trends_parts(PROJECT, BY_EVENT_COUNTS, 3)[1],
    "trends_people": lambda: trends_people(PROJECT, TrendPeopleSpec(TOTAL, 0, None, FROM, 50)),
    "trends_people_breakdown": lambda: trends_people(
        PROJECT, TrendPeopleSpec(BY_EVENT, 0, 2, FROM, 10, uuid.UUID(int=7))),
    "trends_people_breakdown_null": lambda: trends_people(PROJECT, TrendPeopleSpec(BY_EVENT, 0, None, FROM, 10)),
    "stickiness": lambda: stickiness_build(PROJECT, STICKY),
    "stickiness_filtered": lambda: stickiness_build(PROJECT, STICKY_FILTERED),
    # months (and hours): the period's bit by width_bucket over their starts
    "stickiness_months": lambda: stickiness_build(PROJECT, STICKY_MONTHS),
    # the second of two parts (ReportKind.build_parts)
    "stickiness_filtered_part_2_of_2": lambda: stickiness_parts(PROJECT, STICKY_FILTERED, 2)[1],
    "stickiness_people": lambda: stickiness_people(PROJECT, StickinessPeopleSpec(STICKY, 3, 50, uuid.UUID(int=7))),
}



@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_statement_is_the_golden_one(name):
    assert_golden(name, VARIANTS[name]())


def test_one_placeholder_per_parameter():
    assert_one_placeholder_per_parameter(VARIANTS.items())

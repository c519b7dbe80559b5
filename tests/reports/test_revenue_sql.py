"""Golden SQL: the revenue statements of each variant (app/reports/revenue/
statement.py), built from their spec and compared to the text stored in
tests/reports/golden/ (the statement and its parameters). A change to a
statement shows here as a diff to review; WHODID_UPDATE_GOLDEN=1 rewrites the
files."""
from __future__ import annotations

import uuid

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from app.reports.periods import Period
from app.reports.population import Population
from app.reports.revenue import RevenueSpec, TopPeopleSpec
from app.reports.revenue.statement import build, build_top_people
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.golden import PROJECT, assert_golden, assert_one_placeholder_per_parameter

FROM, TO = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 7, 1, tzinfo=timezone.utc)
PEOPLE = Population(properties=(PropertyFilter("Country", FilterOp.EQ, "FR"),), did_event="Signed Up",
                    from_=FROM, to=TO)

BY_MONTH = RevenueSpec(FROM, TO)
BY_SOURCE_WITH_PEOPLE = RevenueSpec(FROM, TO, Period.WEEK, "utm_source", PEOPLE)

VARIANTS = {
    "revenue_by_month": lambda: build(PROJECT, BY_MONTH),
    "revenue_by_hour": lambda: build(PROJECT, RevenueSpec(FROM, datetime(2024, 1, 2, tzinfo=timezone.utc),
                                                          Period.HOUR)),
    "revenue_by_day": lambda: build(PROJECT, RevenueSpec(FROM, TO, Period.DAY)),
    # Another sourceProperty: the person's events walked in time order (no literal key).
    "revenue_by_week_other_source": lambda: build(PROJECT, RevenueSpec(FROM, TO, Period.WEEK, "utm_source")),
    "revenue_people": lambda: build(PROJECT, RevenueSpec(FROM, TO, people=PEOPLE)),
    "revenue_other_source_people": lambda: build(PROJECT, BY_SOURCE_WITH_PEOPLE),
    "revenue_empty_range": lambda: build(PROJECT, RevenueSpec(FROM, FROM)),
    "revenue_top_people": lambda: build_top_people(PROJECT, TopPeopleSpec(BY_MONTH, 50)),
    "revenue_top_people_after": lambda: build_top_people(
        PROJECT, TopPeopleSpec(BY_MONTH, 10, (Decimal("12.50"), uuid.UUID(int=7)))),
    "revenue_top_people_people": lambda: build_top_people(
        PROJECT, TopPeopleSpec(BY_SOURCE_WITH_PEOPLE, 10, (Decimal("-3"), uuid.UUID(int=9)))),
}



@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_statement_is_the_golden_one(name):
    assert_golden(name, VARIANTS[name]())


def test_one_placeholder_per_parameter():
    assert_one_placeholder_per_parameter(VARIANTS.items())


def test_the_indexed_source_is_a_literal_and_another_key_its_parameter():
    """The default sourceProperty is written into the event lookup, so that the
    partial index events_source applies; any other key stays a parameter."""
    indexed, _ = build(PROJECT, BY_MONTH)
    other, _ = build(PROJECT, RevenueSpec(FROM, TO, source_property="utm_source"))
    assert "e.properties ? 'Campaign Source'::text" in indexed
    assert "e.properties ? $4::text" in other and "'Campaign Source'" not in other

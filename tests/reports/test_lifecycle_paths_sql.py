"""Golden SQL: the lifecycle and paths statements of each variant, built from
their spec and compared to the text stored in tests/reports/golden/ (the
statement and its parameters). A change to a statement shows here as a diff
to review; WHODID_UPDATE_GOLDEN=1 rewrites the files."""
from __future__ import annotations

import uuid

from datetime import datetime, timezone

import pytest

from app.reports.lifecycle import LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from app.reports.lifecycle.statement import build as lifecycle_build, build_parts as lifecycle_parts
from app.reports.lifecycle.statement import build_people as lifecycle_people
from app.reports.paths import PathsPeopleSpec, PathsSpec
from app.reports.paths.statement import build as paths_build, build_people as paths_people
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.golden import PROJECT, assert_golden, assert_one_placeholder_per_parameter

FROM, TO = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc)
WHERE = (PropertyFilter("Plan", FilterOp.EQ, "pro"), PropertyFilter("Items", FilterOp.GT, 2))
PEOPLE = Population(properties=(PropertyFilter("Country", FilterOp.EQ, "FR"),), did_event="Signed Up",
                    from_=FROM, to=TO)

LIFECYCLE = LifecycleSpec("Logged In", FROM, TO)
LIFECYCLE_FILTERED = LifecycleSpec("Logged In", FROM, TO, WHERE, Period.MONTH, PEOPLE)
LIFECYCLE_EMPTY = LifecycleSpec("Logged In", FROM, FROM, interval=Period.WEEK)
FORWARD = PathsSpec(FROM, TO, start_event="Signed Up")
BACKWARD = PathsSpec(FROM, TO, end_event="Purchased", depth=6, limit=3, people=PEOPLE)

VARIANTS = {
    "lifecycle": lambda: lifecycle_build(PROJECT, LIFECYCLE),
    "lifecycle_filtered": lambda: lifecycle_build(PROJECT, LIFECYCLE_FILTERED),
    # the first of two parts (ReportKind.build_parts)
    "lifecycle_filtered_part_1_of_2": lambda: lifecycle_parts(PROJECT, LIFECYCLE_FILTERED, 2)[0],
    "lifecycle_empty_range": lambda: lifecycle_build(PROJECT, LIFECYCLE_EMPTY),
    "lifecycle_people": lambda: lifecycle_people(
        PROJECT, LifecyclePeopleSpec(LIFECYCLE, FROM, LifecycleStatus.DORMANT, 50)),
    "lifecycle_people_after": lambda: lifecycle_people(
        PROJECT, LifecyclePeopleSpec(LIFECYCLE_FILTERED, FROM, LifecycleStatus.NEW, 10, uuid.UUID(int=7))),
    "paths_start": lambda: paths_build(PROJECT, FORWARD),
    "paths_end_population": lambda: paths_build(PROJECT, BACKWARD),
    "paths_people": lambda: paths_people(PROJECT, PathsPeopleSpec(FORWARD, 2, "Viewed", 50)),
    "paths_people_folded_after": lambda: paths_people(
        PROJECT, PathsPeopleSpec(BACKWARD, -3, None, 10, uuid.UUID(int=7))),
}



@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_statement_is_the_golden_one(name):
    assert_golden(name, VARIANTS[name]())


def test_one_placeholder_per_parameter():
    assert_one_placeholder_per_parameter(VARIANTS.items())

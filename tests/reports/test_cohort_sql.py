"""Golden SQL: the cohort statement of each variant (app/reports/cohort/
statement.py), built from its spec and compared to the text stored in
tests/reports/golden/ (the statement and its parameters). A change to a
statement shows here as a diff to review; WHODID_UPDATE_GOLDEN=1 rewrites the
files."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

import pytest

from app.reports.cohort import CohortSpec, Mode
from app.reports.cohort.statement import build, build_parts
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.golden import PROJECT, assert_golden, assert_one_placeholder_per_parameter

FROM, TO = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc)
PEOPLE = Population(properties=(PropertyFilter("Country", FilterOp.EQ, "FR"),), did_event="Paid",
                    from_=FROM, to=TO)
RECURRING = Mode.RECURRING

VARIANTS = {
    "cohort_first_time": CohortSpec("Signed Up", "Logged In", FROM, TO),
    "cohort_first_time_month_day_one": CohortSpec("Signed Up", "Logged In", FROM, TO, Period.MONTH, Period.DAY, 1),
    "cohort_first_time_two_masks": CohortSpec("Signed Up", "Logged In", FROM, TO, Period.DAY, Period.HOUR, 65),
    "cohort_recurring": CohortSpec("Signed Up", "Logged In", FROM, TO, mode=RECURRING),
    "cohort_cumulative": CohortSpec("Signed Up", "Logged In", FROM, TO, Period.WEEK, Period.DAY, 7, cumulative=True),
    "cohort_recurring_cumulative": CohortSpec("Signed Up", "Logged In", FROM, TO, mode=RECURRING, cumulative=True),
    "cohort_population": CohortSpec("Signed Up", "Logged In", FROM, TO, people=PEOPLE),
    "cohort_recurring_population": CohortSpec("Signed Up", "Logged In", FROM, TO, Period.DAY, Period.DAY, 3,
                                              RECURRING, people=PEOPLE),
}



@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_statement_is_the_golden_one(name):
    assert_golden(name, build(PROJECT, VARIANTS[name]))


def test_one_placeholder_per_parameter():
    assert_one_placeholder_per_parameter((name, partial(build, PROJECT, spec)) for name, spec in VARIANTS.items())


def test_a_part_is_the_golden_one():
    """The second of two parts (ReportKind.build_parts): the statement with
    the members of the upper half of the person ids."""
    spec = VARIANTS["cohort_recurring_population"]
    assert_golden("cohort_recurring_population_part_2_of_2", build_parts(PROJECT, spec, 2)[1])
    assert_one_placeholder_per_parameter([("part", lambda: build_parts(PROJECT, spec, 2)[1])])


def test_the_report_values_keep_their_placeholders_whatever_the_options():
    """$2 … $7 are the report's values in every variant; a people filter's
    come after them."""
    for name, spec in VARIANTS.items():
        params = build(PROJECT, spec)[1]
        assert params[1:7] == [spec.cohort_event, spec.return_event, spec.from_, spec.to,
                               {Period.HOUR: 3600, Period.DAY: 86400, Period.WEEK: 604800}[spec.bucket],
                               spec.buckets], name
        assert len(params) > 7 if spec.people is not None else len(params) == 7, name

"""Golden SQL: the cohort statement of each variant (app/reports/cohort/
statement.py), built from its spec and compared to the text stored in
tests/reports/golden/ (the statement and its parameters). A change to a
statement shows here as a diff to review; WHODID_UPDATE_GOLDEN=1 rewrites the
files."""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.reports.cohort import CohortSpec, Mode
from app.reports.cohort.statement import build
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter

GOLDEN = Path(__file__).parent / "golden"
PROJECT = uuid.UUID("00000000-0000-0000-0000-000000000001")
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


def render(sql: str, params: list) -> str:
    assert params[0] == PROJECT
    lines = [sql.rstrip(), "", "-- parameters"]
    lines += [f"-- ${i}: {p!r}" for i, p in enumerate(params, 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_statement_is_the_golden_one(name):
    text = render(*build(PROJECT, VARIANTS[name]))
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("WHODID_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with WHODID_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()


def test_one_placeholder_per_parameter():
    for name, spec in VARIANTS.items():
        sql, params = build(PROJECT, spec)
        for i in range(1, len(params) + 1):
            assert f"${i}" in sql, (name, i)
        assert f"${len(params) + 1}" not in sql, name


def test_the_report_values_keep_their_placeholders_whatever_the_options():
    """$2 … $7 are the report's values in every variant; a people filter's
    come after them."""
    for name, spec in VARIANTS.items():
        params = build(PROJECT, spec)[1]
        assert params[1:7] == [spec.cohort_event, spec.return_event, spec.from_, spec.to,
                               {Period.HOUR: 3600, Period.DAY: 86400, Period.WEEK: 604800}[spec.bucket],
                               spec.buckets], name
        assert len(params) > 7 if spec.people is not None else len(params) == 7, name

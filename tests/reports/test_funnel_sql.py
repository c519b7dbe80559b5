"""Golden SQL: the funnel statement of each variant (app/reports/funnel/
statement.py), built from its spec and compared to the text stored in
tests/reports/golden/ (the statement and its parameters). A change to a
statement shows here as a diff to review; WHODID_UPDATE_GOLDEN=1 rewrites the
files."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

import pytest

from app.reports.funnel import ExclusionSpec, FunnelSpec, FunnelStepSpec, SegmentSpec
from app.reports.funnel.statement import build_parts, build_query
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.golden import PROJECT, assert_golden, assert_one_placeholder_per_parameter

FROM, TO = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc)
WHERE = (PropertyFilter("Plan", FilterOp.EQ, "pro"), PropertyFilter("Items", FilterOp.GT, 2))
PEOPLE = Population(properties=(PropertyFilter("Country", FilterOp.EQ, "FR"),), did_event="Signed Up",
                    from_=FROM, to=TO)

DISTINCT = (FunnelStepSpec("Viewed"), FunnelStepSpec("Added", WHERE), FunnelStepSpec("Bought"))
REPEATED = (FunnelStepSpec("Viewed"), FunnelStepSpec("Viewed", WHERE), FunnelStepSpec("Bought"))
BY_PERSON = SegmentSpec(person_property="Country", limit=5)
BY_FIRST_STEP = SegmentSpec(first_step_property="Source", limit=3, baseline="ads")
EXCLUDED = (ExclusionSpec("Refunded", 0, 2, WHERE),)

VARIANTS = {
    "funnel_one_step": FunnelSpec((FunnelStepSpec("Viewed"),), FROM, TO),
    "funnel_set_based": FunnelSpec(DISTINCT, FROM, TO),
    "funnel_set_based_window": FunnelSpec(DISTINCT, FROM, TO, 3600),
    "funnel_set_based_by_person": FunnelSpec(DISTINCT, FROM, TO, segment_by=BY_PERSON),
    "funnel_set_based_by_first_step_window": FunnelSpec(DISTINCT, FROM, TO, 86400, BY_FIRST_STEP),
    "funnel_set_based_population": FunnelSpec(DISTINCT, FROM, TO, people=PEOPLE),
    "funnel_walked": FunnelSpec(REPEATED, FROM, TO),
    "funnel_walked_window_by_person": FunnelSpec(REPEATED, FROM, TO, 3600, BY_PERSON),
    "funnel_walked_by_first_step": FunnelSpec(REPEATED, FROM, TO, segment_by=BY_FIRST_STEP),
    "funnel_options": FunnelSpec(DISTINCT, FROM, TO, 3600, BY_FIRST_STEP, EXCLUDED, "Plan", PEOPLE),
    "funnel_options_by_person": FunnelSpec(REPEATED, FROM, TO, None, BY_PERSON, EXCLUDED),
    "funnel_hold_constant": FunnelSpec(DISTINCT, FROM, TO, hold_constant="Plan"),
}
# peopleList's chains: the same statement with the per-person rows.
WITH_PEOPLE = {"funnel_set_based_by_person_with_people": "funnel_set_based_by_person",
               "funnel_walked_with_people": "funnel_walked",
               "funnel_options_with_people": "funnel_options"}


def statement(name: str) -> tuple[str, list]:
    if name in WITH_PEOPLE:
        return build_query(PROJECT, VARIANTS[WITH_PEOPLE[name]], True)
    return build_query(PROJECT, VARIANTS[name])



@pytest.mark.parametrize("name", sorted([*VARIANTS, *WITH_PEOPLE]))
def test_statement_is_the_golden_one(name):
    assert_golden(name, statement(name))


# The parts (build_parts) of a variant: one of each way of the chains and
# segment, the part of the upper half (or, for the first, the lower one).
PARTS = {"funnel_set_based_by_first_step_window": 1, "funnel_set_based_by_person": 0, "funnel_options_by_person": 1,
         "funnel_one_step": 0}


@pytest.mark.parametrize("name", sorted(PARTS))
def test_a_part_is_the_golden_one(name):
    i = PARTS[name]
    assert_golden(f"{name}_part_{i + 1}_of_2", build_parts(PROJECT, VARIANTS[name], 2)[i])
    assert_one_placeholder_per_parameter([(name, lambda: build_parts(PROJECT, VARIANTS[name], 2)[i])])


def test_one_placeholder_per_parameter():
    assert_one_placeholder_per_parameter((name, partial(statement, name)) for name in [*VARIANTS, *WITH_PEOPLE])


def test_recursive_only_for_the_merged_statistics():
    """WITH RECURSIVE exactly when a segmented funnel of 2+ steps searches
    its order statistics (the `search` part)."""
    for name in [*VARIANTS, *WITH_PEOPLE]:
        sql, _ = statement(name)
        spec = VARIANTS[WITH_PEOPLE.get(name, name)]
        recursive = spec.segment_by is not None and len(spec.steps) > 1
        assert sql.startswith("WITH RECURSIVE\n" if recursive else "WITH\n"), name
        assert ("\nsearch (k, i, pos, lo, hi) AS (" in sql) == recursive, name

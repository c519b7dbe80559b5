"""People filters (DESIGN.md §5, "Population filter") for the cohort and
revenue property tests over tests/support/scenarios.py's worlds: a random
filter (`populations`), the report's `Population` built from it, and the
oracle's PeopleFilter (tests/support/reference.py)."""
from __future__ import annotations

from hypothesis import strategies as st

from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.scenarios import BOUNDS, NAMES, SOURCE_KEY, SOURCES

_SCALARS = [s for s in SOURCES if not isinstance(s, dict)]


@st.composite
def property_filters(draw) -> PropertyFilter:
    key = draw(st.sampled_from([SOURCE_KEY, "plan"]))
    op = draw(st.sampled_from([FilterOp.EQ, FilterOp.NEQ, FilterOp.EXISTS, FilterOp.NOT_EXISTS, FilterOp.IN,
                               FilterOp.CONTAINS]))
    if op is FilterOp.IN:
        value = draw(st.lists(st.sampled_from(_SCALARS + ["pro"]), min_size=1, max_size=3))
    elif op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        value = None
    elif op is FilterOp.CONTAINS:
        value = draw(st.sampled_from(["o", "g", "pr"]))
    else:
        value = draw(st.sampled_from(_SCALARS + ["pro"]))
    return PropertyFilter(key, op, value)


@st.composite
def populations(draw) -> dict | None:
    """None (everyone) or a PeopleFilter as the oracle takes it."""
    if draw(st.booleans()):
        return None
    lo, hi = sorted(draw(st.tuples(st.sampled_from(BOUNDS), st.sampled_from(BOUNDS))))
    return {
        "properties": draw(st.lists(property_filters(), max_size=2)),
        "didEvent": draw(st.none() | st.sampled_from(NAMES)),
        "from": draw(st.none() | st.just(lo)),
        "to": draw(st.none() | st.just(hi)),
    }


def population(people: dict | None) -> Population | None:
    if people is None:
        return None
    return Population(properties=tuple(people["properties"]), did_event=people["didEvent"],
                      from_=people["from"], to=people["to"])


def oracle_people(people: dict | None) -> dict | None:
    if people is None:
        return None
    return dict(people, properties=[{"key": f.key, "op": f.op.value, "value": f.value}
                                    for f in people["properties"]])

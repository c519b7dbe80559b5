"""Random worlds for the lifecycle and paths property tests: events over six
weeks around T0 (equal timestamps, period edges, a late batch sent after
merges), identify/alias merges, property sets; property filters; the
database's contents as the oracle (tests/support/reference.py) takes them."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from app.ingest.validation import EventIn
from app.reports.population import Population
from app.reports.periods import Period
from app.storage.filters import FilterOp, PropertyFilter

from tests.support.reference import Ev

UTC = timezone.utc
T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
NAMES = ["A", "B", "C"]
IDENTITIES = [f"user-{i}" for i in range(6)]
KEYS = ["x", "y"]
VALUES = [None, True, 0, 1, 2, "a", "b", "1"]
DAY = 86400
# Offsets (s) from T0: before it (history), on and beside period edges, equal ones.
OFFSETS = [-40 * DAY, -26 * DAY, -9 * DAY, -DAY - 1, -DAY, -1, 0, 0, 0.5, 1, 3599, 3600, 3601,
           DAY - 1, DAY, DAY, 2 * DAY + 7200, 3 * DAY, 6 * DAY + 1, 7 * DAY, 8 * DAY, 14 * DAY,
           25 * DAY + 1, 26 * DAY, 31 * DAY]
RANGE_OFFSETS = [-9 * DAY, -DAY, -3600, 0, 0, 1, 3600, DAY, DAY + 1800, 2 * DAY, 7 * DAY, 26 * DAY, 32 * DAY]

values = st.sampled_from(VALUES)
properties = st.dictionaries(st.sampled_from(KEYS), values, max_size=2)


@st.composite
def filters(draw) -> PropertyFilter:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from([FilterOp.EQ, FilterOp.NEQ, FilterOp.EXISTS, FilterOp.GT, FilterOp.IN]))
    if op is FilterOp.IN:
        value: Any = draw(st.lists(values, min_size=1, max_size=2))
    elif op is FilterOp.GT:
        value = draw(st.sampled_from([0, "1"]))
    elif op is FilterOp.EXISTS:
        value = None
    else:
        value = draw(values)
    return PropertyFilter(key, op, value)


@st.composite
def lifecycle_populations(draw) -> Population | None:
    kind = draw(st.sampled_from(["none", "none", "properties", "did"]))
    if kind == "none":
        return None
    if kind == "properties":
        return Population(properties=tuple(draw(st.lists(filters(), min_size=1, max_size=2))))
    lo = draw(st.none() | st.sampled_from(RANGE_OFFSETS))
    return Population(
        did_event=draw(st.sampled_from(NAMES)),
        from_=None if lo is None else T0 + timedelta(seconds=lo),
        to=None if lo is None else T0 + timedelta(seconds=lo + draw(st.sampled_from([0, DAY, 30 * DAY]))),
    )


@st.composite
def lifecycle_scenarios(draw) -> dict:
    event = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(NAMES), st.sampled_from(OFFSETS), properties)
    links = st.tuples(st.sampled_from(["identify", "alias"]), st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES))
    sets = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(KEYS), values, st.integers(0, 3))
    a, b = sorted(draw(st.lists(st.sampled_from(RANGE_OFFSETS), min_size=2, max_size=2)))
    interval = draw(st.sampled_from(list(Period)))
    if interval is Period.HOUR:  # at most a few days of hours
        b = min(b, a + 3 * DAY)
    return {
        "before": draw(st.lists(event, min_size=4, max_size=40)),
        "links": draw(st.lists(links, max_size=4)),
        "after": draw(st.lists(event, max_size=8)),  # late, out of order
        "sets": draw(st.lists(sets, max_size=6)),
        "event": draw(st.sampled_from(NAMES)),
        "where": draw(st.just([]) | st.just([]) | st.lists(filters(), min_size=1, max_size=2)),
        "from": T0 + timedelta(seconds=a),
        "to": T0 + timedelta(seconds=b),
        "interval": interval,
        "people": draw(lifecycle_populations()),
    }


async def load(services, project_id, scenario: dict) -> None:
    def batch(events):
        return [EventIn(i, n, p, T0 + timedelta(seconds=o)) for i, n, o, p in events]

    if scenario["before"]:
        await services.ingest.record_events(project_id, batch(scenario["before"]))
    for kind, a, b in scenario["links"]:
        if a == b:
            continue
        if kind == "identify":
            await services.ingest.identify(project_id, a, b)
        else:
            await services.ingest.alias(project_id, a, b)
    if scenario["after"]:
        await services.ingest.record_events(project_id, batch(scenario["after"]))
    for identity, key, value, minutes in scenario["sets"]:
        await services.ingest.set_properties(project_id, identity, {key: value}, T0 + timedelta(minutes=minutes))


async def world(services, project_id) -> tuple[list[Ev], dict]:
    """What the database holds, as the oracle takes it."""
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, person_id, name, properties, ts FROM events WHERE project_id = $1",
                                project_id)
        persons = await conn.fetch(
            "SELECT id, properties FROM persons WHERE project_id = $1 AND merged_into IS NULL", project_id
        )
    events = [Ev(r["seq"], str(r["person_id"]), r["name"], r["properties"], r["ts"]) for r in rows]
    return events, {str(r["id"]): r["properties"] for r in persons}


def filter_dicts(where) -> list[dict] | None:
    return [{"key": f.key, "op": f.op.value, "value": f.value} for f in where] or None


def population_dict(p: Population | None) -> dict | None:
    if p is None:
        return None
    return {"properties": filter_dicts(p.properties), "didEvent": p.did_event, "from": p.from_, "to": p.to}


async def new_project(services, prefix: str):
    """A fresh project per example: examples never see each other's data."""
    return await services.auth.create_project(f"{prefix}-{secrets.token_hex(6)}")

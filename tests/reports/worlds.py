"""Random worlds for the trends and stickiness property tests (not a test
module): people merged by identify/alias after some of their events, events
at equal timestamps, repeated names, events sent late and out of order,
numeric strings among the property values, current person properties; and
what the database then holds, in the oracle's terms (tests/support/reference.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from app.ingest.validation import EventIn
from app.reports.periods import count_periods_overlapping
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.reference import Ev

UTC = timezone.utc
# A Monday; the week holds Feb 29 and the start of March (a month boundary).
T0 = datetime(2024, 2, 26, tzinfo=UTC)
NAMES = ["A", "B", "C"]
IDENTITIES = [f"user-{i}" for i in range(6)]
KEYS = ["x", "y"]
VALUES = [None, True, 0, 1, 2, 10, -1, 2.25, "a", "b", "1", "10", "1.5", "-2", "1e2", " 3", "abc"]
HOUR, DAY = 3600, 86400
# Offsets (s) from T0: equal ones are frequent; hour, day, week and month edges.
OFFSETS = [-DAY, -HOUR, 0, 0, 0.5, 1, 1, 59, HOUR - 1, HOUR, HOUR + 1, DAY - 1, DAY, 2 * DAY + 5, 3.5 * DAY, 4 * DAY,
           7 * DAY, 9 * DAY, 9 * DAY]
# The range's bounds: often an event's offset (events at `from` and at `to`),
# else a period edge; at most MAX_PERIODS periods of the interval.
BOUNDS = sorted(set(OFFSETS) | {-DAY, 2 * DAY, 3 * DAY, 5 * DAY, 40 * DAY})
MAX_PERIODS = 40

values = st.sampled_from(VALUES)
values = st.sampled_from(VALUES)
properties = st.dictionaries(st.sampled_from(KEYS), values, max_size=2)


@st.composite
def filters(draw) -> PropertyFilter:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(list(FilterOp)))
    if op is FilterOp.IN:
        value: Any = draw(st.lists(values, min_size=1, max_size=3))
    elif op in (FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE):
        value = draw(st.sampled_from([0, 1, 2, "1", "5"]))
    elif op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        value = draw(st.sampled_from(["a", "1", "b", 1, True]))
    elif op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        value = None
    else:
        value = draw(values)
    return PropertyFilter(key, op, value)


where = st.just(()) | st.just(()) | st.lists(filters(), min_size=1, max_size=2).map(tuple)


@st.composite
def populations(draw) -> Population | None:
    if draw(st.booleans()):
        return None
    bounds = st.none() | st.sampled_from(OFFSETS).map(lambda o: T0 + timedelta(seconds=o))
    from_, to = draw(bounds), draw(bounds)
    if from_ is not None and to is not None and to < from_:
        from_, to = to, from_
    return Population(
        properties=tuple(draw(st.lists(filters(), max_size=1))),
        did_event=draw(st.none() | st.sampled_from(NAMES)),
        from_=from_,
        to=to,
    )


@st.composite
def worlds(draw) -> dict:
    event = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(NAMES), st.sampled_from(OFFSETS), properties)
    links = st.tuples(st.sampled_from(["identify", "alias"]), st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES))
    sets = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(KEYS), values, st.integers(0, 3))
    interval = draw(st.sampled_from(["HOUR", "DAY", "DAY", "WEEK", "MONTH"]))
    wide = draw(st.integers(0, 9)) < 6  # most ranges hold most events
    start = draw(st.sampled_from([-DAY, -HOUR, 0] if wide else BOUNDS))
    ends = [b for b in ([DAY, 4 * DAY, 10 * DAY, 40 * DAY] if wide else BOUNDS) if b >= start
            and count_periods_overlapping(T0 + timedelta(seconds=start), T0 + timedelta(seconds=b), interval)
            <= MAX_PERIODS]
    end = draw(st.sampled_from(ends or [start]))
    return {
        "before": draw(st.lists(event, min_size=8, max_size=50)),
        "links": draw(st.lists(links, max_size=4)),
        # sent after the merges, with timestamps anywhere: late and out of order
        "after": draw(st.lists(event, max_size=8)),
        "sets": draw(st.lists(sets, max_size=6)),
        "interval": interval,
        "from": T0 + timedelta(seconds=start),
        "to": T0 + timedelta(seconds=end),
        "people": draw(populations()),
    }


async def load(services, project_id, world: dict) -> None:
    def batch(events):
        return [EventIn(i, n, p, T0 + timedelta(seconds=o)) for i, n, o, p in events]

    if world["before"]:
        await services.ingest.record_events(project_id, batch(world["before"]))
    for kind, a, b in world["links"]:
        if a == b:
            continue
        if kind == "identify":
            await services.ingest.identify(project_id, a, b)
        else:
            await services.ingest.alias(project_id, a, b)
    if world["after"]:
        await services.ingest.record_events(project_id, batch(world["after"]))
    for identity, key, value, minutes in world["sets"]:
        await services.ingest.set_properties(project_id, identity, {key: value}, T0 + timedelta(minutes=minutes))


async def stored(services, project_id) -> tuple[list[Ev], dict[str, dict]]:
    """(events, person_props) as the database holds them: each event's current
    person, each live person's current properties."""
    async with services.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, person_id, name, properties, ts FROM events WHERE project_id = $1", project_id
        )
        persons = await conn.fetch(
            "SELECT id, properties FROM persons WHERE project_id = $1 AND merged_into IS NULL", project_id
        )
    events = [Ev(r["seq"], str(r["person_id"]), r["name"], r["properties"], r["ts"]) for r in rows]
    return events, {str(r["id"]): r["properties"] for r in persons}


def filter_dicts(where) -> list[dict] | None:
    return [{"key": f.key, "op": f.op.value, "value": f.value} for f in where] or None


def people_dict(population: Population | None) -> dict | None:
    if population is None:
        return None
    return {"properties": filter_dicts(population.properties), "didEvent": population.did_event,
            "from": population.from_, "to": population.to}

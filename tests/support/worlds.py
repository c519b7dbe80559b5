"""Random worlds for the report property tests (trends, stickiness, lifecycle,
paths): people merged by identify/alias after some of their events, events at
equal timestamps and on period edges, repeated names, a late batch sent after
the merges with timestamps anywhere (late and out of order), current person
properties; property filters and people filters; and what the database then
holds, in the oracle's terms (tests/support/reference.py).

Two variants of the same world (`Variant`):
- `MONTH_END` (trends, stickiness): a week around Monday Feb 26 2024 (Feb 29
  and a month boundary), numeric strings among the values, every filter op;
  a range of a few periods of the interval (`trend_worlds`).
- `SIX_WEEKS` (lifecycle, paths): six weeks around Monday May 6 2024, history
  before the range, fewer values and ops (`lifecycle_worlds`; the paths test
  brings its own names and offsets to `history`).
A world is a dict; `load` plays it through the real ingest path."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from app.ingest.validation import EventIn
from app.reports.periods import Period, count_periods_overlapping
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.reference import Ev

UTC = timezone.utc
NAMES = ["A", "B", "C"]
IDENTITIES = [f"user-{i}" for i in range(6)]
KEYS = ["x", "y"]
HOUR, DAY = 3600, 86400


@dataclass(frozen=True)
class Variant:
    t0: datetime
    values: tuple                # property values (events, person sets, filter values)
    offsets: tuple               # event times, seconds from t0: equal ones are frequent
    ops: tuple[FilterOp, ...]    # filter operators drawn
    compared: tuple              # values of GT/GTE/LT/LTE
    contained: tuple             # values of CONTAINS/STARTS_WITH
    in_max: int                  # the longest IN list


MONTH_END = Variant(
    # A Monday; the week holds Feb 29 and the start of March (a month boundary).
    t0=datetime(2024, 2, 26, tzinfo=UTC),
    values=(None, True, 0, 1, 2, 10, -1, 2.25, "a", "b", "1", "10", "1.5", "-2", "1e2", " 3", "abc"),
    # hour, day, week and month edges
    offsets=(-DAY, -HOUR, 0, 0, 0.5, 1, 1, 59, HOUR - 1, HOUR, HOUR + 1, DAY - 1, DAY, 2 * DAY + 5, 3.5 * DAY,
             4 * DAY, 7 * DAY, 9 * DAY, 9 * DAY),
    ops=tuple(FilterOp),
    compared=(0, 1, 2, "1", "5"),
    contained=("a", "1", "b", 1, True),
    in_max=3,
)

SIX_WEEKS = Variant(
    t0=datetime(2024, 5, 6, tzinfo=UTC),  # a Monday
    values=(None, True, 0, 1, 2, "a", "b", "1"),
    # before t0 (history), on and beside period edges, equal ones
    offsets=(-40 * DAY, -26 * DAY, -9 * DAY, -DAY - 1, -DAY, -1, 0, 0, 0.5, 1, 3599, 3600, 3601,
             DAY - 1, DAY, DAY, 2 * DAY + 7200, 3 * DAY, 6 * DAY + 1, 7 * DAY, 8 * DAY, 14 * DAY,
             25 * DAY + 1, 26 * DAY, 31 * DAY),
    ops=(FilterOp.EQ, FilterOp.NEQ, FilterOp.EXISTS, FilterOp.GT, FilterOp.IN),
    compared=(0, "1"),
    contained=(),
    in_max=2,
)


def values(v: Variant) -> st.SearchStrategy:
    return st.sampled_from(v.values)


def properties(v: Variant) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(KEYS), values(v), max_size=2)


@st.composite
def filters(draw, v: Variant) -> PropertyFilter:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(v.ops))
    value: Any
    if op is FilterOp.IN:
        value = draw(st.lists(values(v), min_size=1, max_size=v.in_max))
    elif op in (FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE):
        value = draw(st.sampled_from(v.compared))
    elif op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        value = draw(st.sampled_from(v.contained))
    elif op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        value = None
    else:
        value = draw(values(v))
    return PropertyFilter(key, op, value)


def where(v: Variant) -> st.SearchStrategy:
    """No filter (twice as likely) or one or two."""
    return st.just(()) | st.just(()) | st.lists(filters(v), min_size=1, max_size=2).map(tuple)


@st.composite
def history(draw, v: Variant, names=NAMES, offsets=None, min_events: int = 4, max_events: int = 40) -> dict:
    """What happened: a first batch of events, merges, a late batch (sent after
    the merges, timestamps anywhere), property sets."""
    event = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(names), st.sampled_from(offsets or v.offsets),
                      properties(v))
    links = st.tuples(st.sampled_from(["identify", "alias"]), st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES))
    sets = st.tuples(st.sampled_from(IDENTITIES), st.sampled_from(KEYS), values(v), st.integers(0, 3))
    return {
        "t0": v.t0,
        "before": draw(st.lists(event, min_size=min_events, max_size=max_events)),
        "links": draw(st.lists(links, max_size=4)),
        "after": draw(st.lists(event, max_size=8)),  # late, out of order
        "sets": draw(st.lists(sets, max_size=6)),
    }


# ------------------------------------------------------------ MONTH_END: trends, stickiness

# The range's bounds: often an event's offset (events at `from` and at `to`),
# else a period edge; at most MAX_PERIODS periods of the interval.
BOUNDS = sorted(set(MONTH_END.offsets) | {-DAY, 2 * DAY, 3 * DAY, 5 * DAY, 40 * DAY})
MAX_PERIODS = 40


@st.composite
def trend_populations(draw) -> Population | None:
    if draw(st.booleans()):
        return None
    t0 = MONTH_END.t0
    bounds = st.none() | st.sampled_from(MONTH_END.offsets).map(lambda o: t0 + timedelta(seconds=o))
    from_, to = draw(bounds), draw(bounds)
    if from_ is not None and to is not None and to < from_:
        from_, to = to, from_
    return Population(
        properties=tuple(draw(st.lists(filters(MONTH_END), max_size=1))),
        did_event=draw(st.none() | st.sampled_from(NAMES)),
        from_=from_,
        to=to,
    )


@st.composite
def trend_worlds(draw) -> dict:
    """A MONTH_END history, an interval and a range of at most MAX_PERIODS of
    its periods (most ranges hold most events), a people filter or none."""
    t0 = MONTH_END.t0
    interval = draw(st.sampled_from(["HOUR", "DAY", "DAY", "WEEK", "MONTH"]))
    wide = draw(st.integers(0, 9)) < 6
    start = draw(st.sampled_from([-DAY, -HOUR, 0] if wide else BOUNDS))
    ends = [b for b in ([DAY, 4 * DAY, 10 * DAY, 40 * DAY] if wide else BOUNDS) if b >= start
            and count_periods_overlapping(t0 + timedelta(seconds=start), t0 + timedelta(seconds=b), interval)
            <= MAX_PERIODS]
    end = draw(st.sampled_from(ends or [start]))
    return {
        **draw(history(MONTH_END, min_events=8, max_events=50)),
        "interval": interval,
        "from": t0 + timedelta(seconds=start),
        "to": t0 + timedelta(seconds=end),
        "people": draw(trend_populations()),
    }


# ------------------------------------------------------------ SIX_WEEKS: lifecycle, paths

RANGE_OFFSETS = [-9 * DAY, -DAY, -3600, 0, 0, 1, 3600, DAY, DAY + 1800, 2 * DAY, 7 * DAY, 26 * DAY, 32 * DAY]


@st.composite
def lifecycle_populations(draw) -> Population | None:
    kind = draw(st.sampled_from(["none", "none", "properties", "did"]))
    if kind == "none":
        return None
    if kind == "properties":
        return Population(properties=tuple(draw(st.lists(filters(SIX_WEEKS), min_size=1, max_size=2))))
    t0 = SIX_WEEKS.t0
    lo = draw(st.none() | st.sampled_from(RANGE_OFFSETS))
    return Population(
        did_event=draw(st.sampled_from(NAMES)),
        from_=None if lo is None else t0 + timedelta(seconds=lo),
        to=None if lo is None else t0 + timedelta(seconds=lo + draw(st.sampled_from([0, DAY, 30 * DAY]))),
    )


@st.composite
def lifecycle_worlds(draw) -> dict:
    """A SIX_WEEKS history, an event, `where`, a range and interval (hours over
    a few days at most), a people filter or none."""
    t0 = SIX_WEEKS.t0
    a, b = sorted(draw(st.lists(st.sampled_from(RANGE_OFFSETS), min_size=2, max_size=2)))
    interval = draw(st.sampled_from(list(Period)))
    if interval is Period.HOUR:
        b = min(b, a + 3 * DAY)
    return {
        **draw(history(SIX_WEEKS)),
        "event": draw(st.sampled_from(NAMES)),
        "where": draw(where(SIX_WEEKS)),
        "from": t0 + timedelta(seconds=a),
        "to": t0 + timedelta(seconds=b),
        "interval": interval,
        "people": draw(lifecycle_populations()),
    }


# ------------------------------------------------------------ the database and the oracle

async def load(services, project_id, world: dict, *, t0: datetime | None = None) -> None:
    """Play a world through the ingest service, in its order (times from the
    world's t0, or from `t0` for a world made without one)."""
    t0 = t0 or world["t0"]

    def batch(events):
        return [EventIn(i, n, p, t0 + timedelta(seconds=o)) for i, n, o, p in events]

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
        await services.ingest.set_properties(project_id, identity, {key: value}, t0 + timedelta(minutes=minutes))


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
    """A people filter as the oracle takes it."""
    if population is None:
        return None
    return {"properties": filter_dicts(population.properties), "didEvent": population.did_event,
            "from": population.from_, "to": population.to}

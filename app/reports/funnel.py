"""The funnel report (DESIGN.md §5 Funnel), computed in PostgreSQL.

One statement computes every person's chain and aggregates the chains: Python
receives a few rows (people per step and segment, the duration statistics'
order statistics and histogram counts), never a row per person or per event.

The chains, two ways (docs/reports.md, "Funnel", has the argument):

- **Set-based** when every event can match at most one step (all step names
  differ; `where` filters allowed): the step events come as one stream in
  (person, ts DESC) order — a merge of one index scan per step over
  `events_name_person_ts` (db/migrations/0005_reports.sql, 0006) — and one
  window pass gives, at each start, the first event of every later step at or
  after it. Only starts with a step-1 event at or after them enter it; people
  with none (`lone`) reach level 1 from their earliest start, read from a
  backward index-only scan. From a start, the greedy chain is t₁ = that first step-1 event, and
  t_k = the window's step-k value when it is ≥ t_{k−1}, else (rare: a step-k
  event between the start and t_{k−1}) one index lookup. A start's level
  counts the chain times within the window; DISTINCT ON picks each person's
  earliest start with the highest level.
- **Walked** otherwise (a repeated step name: one event can match two steps):
  per person, the events' timestamps and step masks as arrays walked by
  `whodid_funnel_chain` (PL/pgSQL, db/migrations/0003_funnel.sql).

Then, in the same statement: the segment value (the chain's step-0 event
property, or the person's current property, in text form), the fold of every
value outside the `limit` largest into null, and per (segment, step) the
number of people, the exact sum of the durations, the order statistics that
the median and p90 need, and the histogram counts. Python assembles the steps,
the rates and the significance tests (app/reports/stats.py).

peopleList needs every person's chain; the statement returns them compactly
(about 60 bytes a person) only when asked (`with_people`): the GraphQL
resolver asks when the query selects peopleList, and otherwise the lists are
computed on first use (app/graphql/funnel.py, docs/reports.md).
"""
from __future__ import annotations

import sys
import uuid
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any, Iterable

import orjson

from ..errors import BadInput
from ..storage.filters import Params, PropertyFilter, filters_sql, validate_filter
from . import stats
from .periods import periods_overlapping
from .population import Population, population_part
from .population import normalised as population_key
from .sql import Statement

__all__ = [
    "MAX_STEPS",
    "ExclusionSpec",
    "FunnelComparison",
    "FunnelPeople",
    "FunnelResult",
    "FunnelSegmentResult",
    "FunnelSpec",
    "FunnelStepResult",
    "FunnelStepSpec",
    "PeoplePage",
    "SegmentSpec",
    "StepStatus",
    "build_query",
    "compute_funnel",
    "compute_funnel_people",
]

MAX_STEPS = 20
MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 255
MAX_SEGMENT_LIMIT = 100
MAX_WINDOW_SECONDS = 2**31 - 1  # GraphQL Int
MAX_BASELINE_LENGTH = 10_000
MAX_EXCLUSIONS = 20

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class StepStatus(str, Enum):
    REACHED = "REACHED"
    DROPPED = "DROPPED"


def _utc(t: datetime, field: str) -> datetime:
    if not isinstance(t, datetime):
        raise BadInput(field, "a date and time is needed")
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _text_ok(value: object, max_length: int, *, empty: bool = False) -> bool:
    """A string PostgreSQL can hold (no NUL) of 1 (0 when empty is allowed) to
    max_length characters."""
    return (
        isinstance(value, str)
        and (empty or bool(value))
        and len(value) <= max_length
        and "\x00" not in value
    )


def _from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# ======================================================================= input


@dataclass(frozen=True, eq=False)
class FunnelStepSpec:
    """One step: an event name and property filters that must all pass.

    Equality and hash go by the normalised filters (a filter value may be a JSON
    list, which is not hashable; the order of the filters does not matter)."""

    event: str
    where: tuple[PropertyFilter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))

    def normalised(self) -> tuple[str, tuple[tuple, ...]]:
        return self.event, tuple(sorted(f.normalised() for f in self.where))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunnelStepSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.normalised())


@dataclass(frozen=True, eq=False)
class ExclusionSpec:
    """exclusions[i]: an event (name and filters) that, between the chain's
    afterStep and beforeStep, takes the person out of the report (DESIGN.md §5,
    "Funnel: exclusions, ..."). Equality and hash by the normalised filters."""

    event: str
    after_step: int
    before_step: int
    where: tuple[PropertyFilter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))

    def normalised(self) -> tuple:
        return self.event, tuple(sorted(f.normalised() for f in self.where)), self.after_step, self.before_step

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExclusionSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.normalised())


@dataclass(frozen=True)
class SegmentSpec:
    """segmentBy: exactly one of person_property and first_step_property."""

    person_property: str | None = None
    first_step_property: str | None = None
    limit: int = 10
    baseline: str | None = None

    @property
    def key(self) -> str:
        return self.person_property if self.person_property is not None else self.first_step_property  # type: ignore[return-value]


@dataclass(frozen=True)
class FunnelSpec:
    """The normalised, validated funnel input; hashable, `cache_key()` for the cache."""

    steps: tuple[FunnelStepSpec, ...]
    from_: datetime
    to: datetime
    window_seconds: int | None = None
    segment_by: SegmentSpec | None = None
    exclusions: tuple[ExclusionSpec, ...] = ()
    hold_constant: str | None = None
    people: Population | None = None

    def __post_init__(self) -> None:
        steps = tuple(self.steps or ())
        object.__setattr__(self, "steps", steps)
        if not 1 <= len(steps) <= MAX_STEPS:
            raise BadInput("input.steps", f"a funnel has 1 to {MAX_STEPS} steps (got {len(steps)})")
        for i, step in enumerate(steps):
            if not isinstance(step, FunnelStepSpec):
                raise BadInput(f"input.steps[{i}]", "not a funnel step")
            if not _text_ok(step.event, MAX_NAME_LENGTH):
                raise BadInput(f"input.steps[{i}].event", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            for j, f in enumerate(step.where):
                validate_filter(f"input.steps[{i}].where[{j}]", f)
        object.__setattr__(self, "from_", _utc(self.from_, "input.from"))
        object.__setattr__(self, "to", _utc(self.to, "input.to"))
        if self.to < self.from_:
            # from = to is an empty range (nobody enters), as in cohort and revenue.
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        w = self.window_seconds
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WINDOW_SECONDS):
            raise BadInput(
                "input.conversionWindowSeconds",
                f"a conversion window is 1 to {MAX_WINDOW_SECONDS} seconds, or null for none (got {w})",
            )
        seg = self.segment_by
        if seg is not None:
            if (seg.person_property is None) == (seg.first_step_property is None):
                raise BadInput("input.segmentBy", "give exactly one of personProperty and firstStepProperty")
            name = "personProperty" if seg.person_property is not None else "firstStepProperty"
            if not _text_ok(seg.key, MAX_KEY_LENGTH):
                raise BadInput(f"input.segmentBy.{name}", f"a property key is 1-{MAX_KEY_LENGTH} characters")
            if isinstance(seg.limit, bool) or not isinstance(seg.limit, int) or not 1 <= seg.limit <= MAX_SEGMENT_LIMIT:
                raise BadInput("input.segmentBy.limit", f"between 1 and {MAX_SEGMENT_LIMIT} segments (got {seg.limit})")
            if seg.baseline is not None and not _text_ok(seg.baseline, MAX_BASELINE_LENGTH, empty=True):
                raise BadInput("input.segmentBy.baseline", f"a segment value: text of at most {MAX_BASELINE_LENGTH} characters")
        exclusions = tuple(self.exclusions or ())
        object.__setattr__(self, "exclusions", exclusions)
        if len(exclusions) > MAX_EXCLUSIONS:
            raise BadInput("input.exclusions", f"at most {MAX_EXCLUSIONS} exclusions (got {len(exclusions)})")
        last = len(steps) - 1
        for i, x in enumerate(exclusions):
            at = f"input.exclusions[{i}]"
            if not isinstance(x, ExclusionSpec):
                raise BadInput(at, "not a funnel exclusion")
            if not _text_ok(x.event, MAX_NAME_LENGTH):
                raise BadInput(f"{at}.event", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            for j, f in enumerate(x.where):
                validate_filter(f"{at}.where[{j}]", f)
            rule = f"0 ≤ afterStep < beforeStep ≤ {last}, the last step"
            if isinstance(x.after_step, bool) or not isinstance(x.after_step, int) or not 0 <= x.after_step < last:
                raise BadInput(f"{at}.afterStep", f"{rule} (got afterStep {x.after_step})")
            if (isinstance(x.before_step, bool) or not isinstance(x.before_step, int)
                    or not x.after_step < x.before_step <= last):
                raise BadInput(f"{at}.beforeStep", f"{rule} (got beforeStep {x.before_step})")
        if self.hold_constant is not None and not _text_ok(self.hold_constant, MAX_KEY_LENGTH):
            raise BadInput("input.holdConstant", f"a property key is 1-{MAX_KEY_LENGTH} characters")
        if self.people is not None:
            if not isinstance(self.people, Population):
                raise BadInput("input.people", "not a people filter")
            if self.people.is_everyone:  # `people: {}` filters nothing: the report of everyone
                object.__setattr__(self, "people", None)

    @property
    def has_options(self) -> bool:
        """Exclusions, holdConstant or a population (they enter the cache key)."""
        return self.walks_options or self.people is not None

    @property
    def walks_options(self) -> bool:
        """Exclusions or holdConstant: the chains are then walked by
        whodid_funnel_chain_options (db/migrations/0008_funnel_options.sql).
        A population alone keeps the chains' shape (set-based or walked)."""
        return bool(self.exclusions) or self.hold_constant is not None

    @property
    def earliest_start_suffices(self) -> bool:
        """True when the earliest start is provably the person's best, so that the
        walk can stop after it: no window, and either no `where` filter or all step
        names distinct (docs/reports.md, "Funnel", has the argument)."""
        if self.window_seconds is not None or self.hold_constant is not None:
            return False
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names) or not any(s.where for s in self.steps)

    @property
    def one_step_per_event(self) -> bool:
        """True when no event can match two steps (all step names differ): each
        step's events are then their own stream and the chains are set-based."""
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names)

    def cache_key(self) -> str:
        """The normalised input as a stable string (equal for equal reports)."""
        seg = self.segment_by
        return orjson.dumps(
            [
                "funnel",
                [[s.event, [list(f) for f in s.normalised()[1]]] for s in self.steps],
                self.from_.isoformat(),
                self.to.isoformat(),
                self.window_seconds,
                None
                if seg is None
                else [
                    "person" if seg.person_property is not None else "firstStep",
                    seg.key,
                    seg.limit,
                    seg.baseline,
                ],
            ]
            # The options only when given: the key of a funnel without them is
            # the key it had before they existed (cached entries stay valid).
            + ([] if not self.has_options else [{
                "exclusions": [list(x.normalised()[:1]) + [[list(f) for f in x.normalised()[1]]]
                               + list(x.normalised()[2:]) for x in self.exclusions],
                "holdConstant": self.hold_constant,
                "people": population_key(self.people),
            }])
        ).decode()


# ======================================================================= result


@dataclass
class FunnelStepResult:
    index: int
    event: str
    people: int
    dropped_off: int
    conversion_from_previous: float
    conversion_from_start: float
    time_from_previous: stats.DurationStats | None


@dataclass
class FunnelComparison:
    baseline: str | None
    lift: float
    z_score: float
    p_value: float
    probability_to_beat_baseline: float
    significant: bool


@dataclass
class FunnelSegmentResult:
    value: str | None
    steps: list[FunnelStepResult]
    conversion_rate: float
    comparison: FunnelComparison | None


@dataclass
class PeoplePage:
    """One page of peopleList: (person id, time they reached the step — for
    DROPPED the previous step) in order; `end` is the cursor key of the last."""

    people: list[tuple[uuid.UUID, datetime]]
    total: int
    has_next: bool
    end: tuple[int, uuid.UUID] | None


@dataclass
class FunnelPeople:
    """Every person who entered, compactly (it is cached with the report):
    person i has id ids[16i:16i+16], level levels[i], reached step k at
    times[i*steps + k] (µs since the epoch; 0 when not reached), and is in the
    segment of value values[segments[i]] (values[0] is None: the null segment,
    and everyone when the report is not segmented)."""

    steps: int
    ids: bytes = b""
    levels: bytes = b""
    times: array = field(default_factory=lambda: array("q"))
    segments: array = field(default_factory=lambda: array("h"))
    values: list = field(default_factory=lambda: [None])
    # Sorted (time, id) keys per (segment, step, status), built on first use; not pickled.
    _orders: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_orders"] = {}
        return state

    def __len__(self) -> int:
        return len(self.levels)

    def person_id(self, i: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.ids[16 * i : 16 * i + 16])

    def segment_number(self, value: str | None) -> int | None:
        """The number of the segment of this value here (None: nobody in it)."""
        try:
            return self.values.index(value)
        except ValueError:
            return None

    def _keys(self, segment: int | None, step: int, status: StepStatus) -> list[tuple[int, bytes]]:
        key = (segment, step, status)
        keys = self._orders.get(key)
        if keys is None:
            n, levels, times, ids, segs = self.steps, self.levels, self.times, self.ids, self.segments
            if status is StepStatus.REACHED:
                members: Iterable[int] = (i for i in range(len(levels)) if levels[i] > step)
                at = step
            elif step == 0:
                members, at = (), 0
            else:
                members = (i for i in range(len(levels)) if levels[i] == step)
                at = step - 1
            if segment is not None:
                members = (i for i in members if segs[i] == segment)
            keys = sorted((times[i * n + at], ids[16 * i : 16 * i + 16]) for i in members)
            self._orders[key] = keys
        return keys

    def trend(self, from_: datetime, to: datetime, interval: Any) -> list[tuple[datetime, int, int]]:
        """FunnelReport.trend: per period overlapping [from_, to) (empty ones
        too), (start, entered, converted): the people whose chain's t_0 is in
        the period and those of them who reached the last step."""
        bounds = periods_overlapping(from_, to, interval)
        key = ("trend", from_, to, str(interval))
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        starts = [int((b[0] - EPOCH) / timedelta(microseconds=1)) for b in bounds]
        entered = [0] * len(bounds)
        converted = [0] * len(bounds)
        n, times, levels = self.steps, self.times, self.levels
        for i in range(len(levels)):
            at = bisect_right(starts, times[i * n]) - 1
            if 0 <= at < len(bounds):
                entered[at] += 1
                if levels[i] >= n:
                    converted[at] += 1
        out = [(b[0], e, c) for b, e, c in zip(bounds, entered, converted)]
        self._orders[key] = out
        return out

    def page(
        self,
        step: int,
        status: StepStatus,
        first: int,
        after: tuple[int, uuid.UUID] | None = None,
        segment: int | None = None,
    ) -> PeoplePage:
        """peopleList of step `step` (of segment number `segment` here, or
        overall), ordered by (time, id), starting after the key `after`."""
        if not 0 <= step < self.steps:
            raise ValueError(f"no step {step}")
        keys = self._keys(segment, step, StepStatus(status))
        start = 0 if after is None else bisect_right(keys, (after[0], after[1].bytes))
        chunk = keys[start : start + first]
        people = [(uuid.UUID(bytes=b), _from_micros(t)) for t, b in chunk]
        end = (chunk[-1][0], uuid.UUID(bytes=chunk[-1][1])) if chunk else None
        return PeoplePage(people=people, total=len(keys), has_next=start + first < len(keys), end=end)


@dataclass
class FunnelResult:
    steps: list[FunnelStepResult]
    segments: list[FunnelSegmentResult]
    computed_at: datetime
    # None when computed without the per-person chains (see compute_funnel).
    people: FunnelPeople | None = None

    def people_page(
        self,
        step: int,
        status: StepStatus | str = StepStatus.REACHED,
        first: int = 50,
        after: tuple[int, uuid.UUID] | None = None,
        segment: int | None = None,
        people: FunnelPeople | None = None,
    ) -> PeoplePage:
        """peopleList of step `step` (of segment number `segment` of this result,
        or overall), ordered by (time, id), starting after the key `after`.
        `people`: chains computed apart (when this result has none)."""
        people = people if people is not None else self.people
        if people is None:
            raise ValueError("this funnel was computed without its people")
        number = None
        if segment is not None:
            number = people.segment_number(self.segments[segment].value)
            if number is None:  # nobody of that segment in these chains
                return PeoplePage(people=[], total=0, has_next=False, end=None)
        return people.page(step, StepStatus(status), first, after, number)


# ======================================================================= SQL

# Timestamps travel to Python as timestamptz_send's 8 bytes (µs since
# 2000-01-01); moved by this much they count from 1970-01-01 instead.
_TO_UNIX = "interval '946684800 seconds'"
_NO_TIME = "'\\x0000000000000000'::bytea"


def _text_form(column: str, key: str) -> str:
    """whodid_text(column -> key) with one key lookup: a string is its text,
    anything else its JSON text (JSON null: 'null'), missing: NULL."""
    return f"coalesce({column} ->> {key}::text, CASE WHEN {column} ? {key}::text THEN 'null' END)"


def _step_conditions(spec: FunnelSpec, p: Params, alias: str = "e") -> list[str]:
    """Per step, the condition an event row `alias` must meet (name and filters)."""
    names: dict[str, str] = {}
    out = []
    for step in spec.steps:
        if step.event not in names:
            names[step.event] = p.add(step.event)
        cond = f"{alias}.name = {names[step.event]}::text"
        if step.where:
            cond += " AND " + filters_sql(f"{alias}.properties", list(step.where), p)
        out.append(cond)
    return out


def _chains_set_based(
    spec: FunnelSpec, p: Params, from_ph: str, to_ph: str, conds: list[str], population: str | None = None
) -> str:
    """CTEs ending in `best(person_id, level, t0 .. t{n-1}, seq)`: each person's
    chain when no event can match two steps; only the people of `population`
    (the name of a part of person ids) when given."""
    n = len(spec.steps)
    window = spec.window_seconds is not None
    in_population = "" if population is None else f" AND e.person_id IN (SELECT pp.id FROM {population} pp)"

    def in_range(k: int) -> str:
        return (f"e.project_id = $1 AND {conds[k]} AND e.ts >= {from_ph}::timestamptz"
                f" AND e.ts < {to_ph}::timestamptz{in_population}")

    # Each person's earliest start (time, then seq): person DESC is the order
    # of a backward scan of events_name_person_ts, which then needs no sort.
    first = f"""SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS t0, e.seq FROM events e
          WHERE {in_range(0)}
          ORDER BY e.person_id DESC, e.ts, e.seq"""
    if n == 1:
        return f"""
best AS (SELECT f.person_id, 1 AS level, f.t0, f.seq FROM ({first}) f)"""
    # Only the starts with a step-1 event at or after them (t0 ≤ the person's
    # last step-1 time) can reach step 1; the others reach level 1 and are
    # later than the person's earliest start, so they never decide a chain.
    # They stay out of the window pass; people who have no such start at all
    # are `lone` below (docs/reports.md, "Funnel").
    last1 = f"""(SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS last1 FROM events e
               WHERE {in_range(1)}
               ORDER BY e.person_id, e.ts DESC) l"""
    starts = f"""        (SELECT e.person_id, e.ts, e.seq, 0 AS k FROM events e
         JOIN {last1} ON l.person_id = e.person_id AND e.ts <= l.last1
         WHERE {in_range(0)}
         ORDER BY e.person_id, e.ts DESC)"""
    # One index scan per step, each in (person, ts DESC) order: merged, they give
    # the window its order without a sort. Each scan's rows carry their step k.
    stream = "\n        UNION ALL\n".join(
        [starts]
        + [
            f"""        (SELECT e.person_id, e.ts, e.seq, {k} AS k FROM events e
         WHERE {in_range(k)}
         ORDER BY e.person_id, e.ts DESC)"""
            for k in range(1, n)
        ]
    )
    # nk: the first step-k event at or after this row's time (the same time
    # counts, whatever the seq): a running min over the person's later rows.
    nexts = ",\n           ".join(f"min(m.ts) FILTER (WHERE m.k = {k}) OVER later AS n{k}" for k in range(1, n))
    dl = ""
    if window:
        win_ph = p.add(spec.window_seconds)
        # Seconds, never '1 day': no daylight-saving changes (docs/reports.md).
        dl = f", w.ts + {win_ph}::bigint * interval '1 second' AS dl"
    ncols = ", ".join(f"w.n{k}" for k in range(2, n))
    # The starts are `k < 1` rather than `k = 0`: the same rows, but the planner,
    # which cannot see the constants' distribution, then expects a third of the
    # rows instead of 0.5 % and hashes the small side of the joins that follow.
    sql = f"""
w AS (
    SELECT m.person_id, m.ts, m.seq, m.k,
           {nexts}
    FROM (
{stream}
    ) m
    WINDOW later AS (PARTITION BY m.person_id ORDER BY m.ts DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
s1 AS (
    SELECT w.person_id, w.ts AS t0, w.seq, w.n1 AS t1{", " + ncols if ncols else ""}{dl}
    FROM w WHERE w.k < 1
)"""
    for k in range(2, n):
        past = f" OR s.t{k - 1} > s.dl" if window else ""
        # t_k: the first step-k event at or after t_{k-1}. nk (first at or after
        # t0) is it unless a step-k event lies between t0 and t_{k-1}; then one
        # index lookup. Past the window the chain is over: not computed.
        sql += f""",
s{k} AS (
    SELECT s.*,
           CASE WHEN s.t{k - 1} IS NULL{past} OR s.n{k} IS NULL THEN NULL
                WHEN s.n{k} >= s.t{k - 1} THEN s.n{k}
                ELSE (SELECT min(e.ts) FROM events e
                      WHERE e.project_id = $1 AND {conds[k]} AND e.person_id = s.person_id
                        AND e.ts >= s.t{k - 1} AND e.ts < {to_ph}::timestamptz)
           END AS t{k}
    FROM s{k - 1} s
    OFFSET 0
)"""
    if window:
        level = " + ".join(["1"] + [f"coalesce((s.t{k} <= s.dl)::int, 0)" for k in range(1, n)])
    else:
        level = " + ".join(["1"] + [f"(s.t{k} IS NOT NULL)::int" for k in range(1, n)])
    times = ", ".join(f"s.t{k}" for k in range(n))
    no_times = ", ".join(f"NULL::timestamptz AS t{k}" for k in range(1, n))
    # lone: people with no step-1 event at or after their earliest start (half
    # of them in the benchmark): level 1, chain = that start.
    sql += f""",
chained AS (
    SELECT DISTINCT ON (s.person_id) s.person_id, s.level, {times}, s.seq
    FROM (SELECT s.*, {level} AS level FROM s{n - 1} s) s
    ORDER BY s.person_id, s.level DESC, s.t0, s.seq
),
lone AS (
    SELECT f.person_id, 1 AS level, f.t0, {no_times}, f.seq
    FROM ({first}) f
    WHERE NOT EXISTS (SELECT FROM events e
                      WHERE {in_range(1)} AND e.person_id = f.person_id AND e.ts >= f.t0)
),
best AS (SELECT * FROM chained UNION ALL SELECT * FROM lone)"""
    return sql


def build_query(project_id: uuid.UUID, spec: FunnelSpec, with_people: bool = False) -> tuple[str, list[Any]]:
    """The statement and its parameters. Rows (column `kind`):
    0 people at step 0 per segment (`overall` 1: everyone), 1 duration
    statistics per (segment, step ≥ 1), 2 the kept segment values by rank,
    3 (with_people) the per-person chains as byte strings."""
    p = Params(project_id)
    n = len(spec.steps)
    from_ph = p.add(spec.from_)
    to_ph = p.add(spec.to)
    seg = spec.segment_by
    conds = _step_conditions(spec, p)
    key_ph = p.add(seg.key) if seg is not None else None

    # The population (when filtered) as a part of its own, before the chains,
    # which read only its people's events.
    q = Statement(p)
    population = population_part(q, spec.people)
    head = "WITH" + "".join(f"\n{part.sql()}," for part in q.parts)
    if spec.one_step_per_event and not spec.walks_options:
        sql = head + _chains_set_based(spec, p, from_ph, to_ph, conds, population)
        times = ", ".join(
            "b.t0" if k == 0 else f"CASE WHEN b.level > {k} THEN b.t{k} END AS t{k}" for k in range(n)
        )
        if seg is not None and seg.first_step_property is not None:
            # The chain's step-0 event, by (person, time, seq), among the step-0
            # events that have the property (the others give null): scanned once
            # and hashed, never probed once per person. A subquery behind OFFSET 0
            # rather than a materialized CTE: the planner then sees the events'
            # statistics (seq is unique) and hashes it; over a CTE it assumed 200
            # distinct keys and sorted both sides for a merge join (~15 ms more).
            sql += f""",
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, {times}, x.sv
    FROM best b LEFT JOIN (
        SELECT e.person_id, e.ts, e.seq, {_text_form("e.properties", key_ph)} AS sv FROM events e
        WHERE e.project_id = $1 AND e.name = {p.add(spec.steps[0].event)}::text
          AND e.ts >= {from_ph}::timestamptz AND e.ts < {to_ph}::timestamptz AND e.properties ? {key_ph}::text
        OFFSET 0
    ) x ON x.person_id = b.person_id AND x.ts = b.t0 AND x.seq = b.seq
)"""
        elif seg is not None:
            sql += f""",
svs AS MATERIALIZED (
    SELECT pr.id, {_text_form("pr.properties", key_ph)} AS sv FROM persons pr
    WHERE pr.project_id = $1 AND pr.properties ? {key_ph}::text
),
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, {times}, x.sv
    FROM best b LEFT JOIN svs x ON x.id = b.person_id
)"""
        else:
            sql += f""",
chains AS MATERIALIZED (SELECT b.person_id, b.level, {times}, NULL::text AS sv FROM best b)"""
    else:
        sql = head + _chains_walked(spec, p, from_ph, to_ph, conds, key_ph, population)

    sql += _aggregates(spec, p, with_people)
    if seg is not None and n > 1:  # _merged_statistics' search
        sql = "WITH RECURSIVE" + sql.removeprefix("WITH")
    return sql, p.values


def _exclusion_conditions(spec: FunnelSpec, p: Params, alias: str = "e") -> list[str]:
    """Per exclusion, the condition an event row `alias` must meet."""
    out = []
    for x in spec.exclusions:
        cond = f"{alias}.name = {p.add(x.event)}::text"
        if x.where:
            cond += " AND " + filters_sql(f"{alias}.properties", list(x.where), p)
        out.append(cond)
    return out


def _chains_walked(
    spec: FunnelSpec, p: Params, from_ph: str, to_ph: str, conds: list[str], key_ph: str | None,
    population: str | None = None,
) -> str:
    """`chains` by the PL/pgSQL walk: for any funnel (repeated step names), and
    for every funnel with options (exclusions, holdConstant, a population:
    whodid_funnel_chain_options, db/migrations/0008_funnel_options.sql)."""
    n = len(spec.steps)
    options = spec.walks_options
    names = {s.event for s in spec.steps} | {x.event for x in spec.exclusions}
    names_ph = p.add(sorted(names))
    bits = list(conds)
    hold_ph = None
    if spec.hold_constant is not None:
        hold_ph = p.add(spec.hold_constant)
        # A start must have the held property (any value, JSON null included).
        bits[0] = f"{bits[0]} AND e.properties ? {hold_ph}::text"
    bits += _exclusion_conditions(spec, p)
    one = "::bigint" if options else ""
    mask = "\n               | ".join(
        f"CASE WHEN {cond} THEN {1 << k}{one} ELSE 0{one} END" for k, cond in enumerate(bits)
    )
    seg = spec.segment_by
    m_extra = agg_extra = join = ""
    segment_value = "NULL::text"
    if seg is not None and seg.first_step_property is not None:
        m_extra = f", {_text_form('e.properties', key_ph)} AS sv"
        agg_extra = ",\n               array_agg(CASE WHEN (m.mask & 1) = 1 THEN m.sv END ORDER BY m.ts, m.seq) AS svs"
        segment_value = "p.svs[f.start_idx]"
    elif seg is not None:
        join = "\n    LEFT JOIN persons pr ON pr.project_id = $1 AND pr.id = p.person_id"
        segment_value = _text_form("pr.properties", key_ph)
    if hold_ph is not None:
        m_extra += f", {_text_form('e.properties', hold_ph)} AS hv"
        agg_extra += ",\n               array_agg(m.hv ORDER BY m.ts, m.seq) AS hvs"
    in_population = ""
    if population is not None:
        in_population = f"\n              AND e.person_id IN (SELECT pp.id FROM {population} pp)"
    nsteps_ph = p.add(n)
    window_ph = p.add(spec.window_seconds)
    earliest_ph = p.add(spec.earliest_start_suffices)
    times = ", ".join(f"f.times[{k + 1}] AS t{k}" for k in range(n))
    if options:
        walk = f"""whodid_funnel_chain_options(
        p.tss, p.masks, {"p.hvs" if hold_ph is not None else "NULL::text[]"}, {nsteps_ph}::int, {window_ph}::bigint,
        {earliest_ph}::boolean, {p.add(hold_ph is not None)}::boolean,
        {p.add([x.after_step for x in spec.exclusions])}::int[], {p.add([x.before_step for x in spec.exclusions])}::int[]) f"""
    else:
        walk = f"""whodid_funnel_chain(
        p.tss, p.masks, {nsteps_ph}::int, {window_ph}::bigint, {earliest_ph}::boolean) f"""
    # Excluded people leave the whole report (their chain is not a chain).
    kept = "\n    WHERE NOT f.excluded" if spec.exclusions else ""
    return f"""
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, {times}, {segment_value} AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks{agg_extra}
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event. The aggregates still say ORDER BY: the arrays' order must
            -- not depend on the plan.
            SELECT e.person_id, e.ts, e.seq,
                   ({mask}) AS mask{m_extra}
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY({names_ph}::text[])
              AND e.ts >= {from_ph}::timestamptz AND e.ts < {to_ph}::timestamptz{in_population}
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL {walk}{join}{kept}
)"""


def _aggregates(spec: FunnelSpec, p: Params, with_people: bool) -> str:
    """From `chains(person_id, level, t0 .. t{n-1}, sv)`: the segments and the
    statistics rows (see build_query)."""
    n = len(spec.steps)
    seg = spec.segment_by
    if seg is not None:
        limit_ph = p.add(seg.limit)
        # The `limit` values with the most people (ties: value ascending, in code
        # point order: COLLATE "C"); every other value folds into null (rank 0).
        # The chains are read twice: once for the people per value (`counts`,
        # which also gives the people per segment), once for the durations.
        # `lab` is inlined into each duration scan (a hash join with the few kept
        # values, for the chains that reached the step only): cheaper than
        # writing and rereading a labelled copy of every chain.
        sql = f""",
counts AS (SELECT c.sv, count(*) AS n FROM chains c GROUP BY c.sv),
kept AS (
    SELECT c.sv, row_number() OVER (ORDER BY c.n DESC, c.sv COLLATE "C") AS segrank
    FROM counts c WHERE c.sv IS NOT NULL
    ORDER BY c.n DESC, c.sv COLLATE "C" LIMIT {limit_ph}::int
),
lab AS NOT MATERIALIZED (
    SELECT c.*, coalesce(k.segrank, 0) AS segrank FROM chains c LEFT JOIN kept k ON k.sv = c.sv
)"""
        # People at step 0 per segment and overall, from the counts per value
        # (as many rows as values, not a row per chain).
        sizes = """SELECT 0 AS kind, GROUPING(r.segrank) AS overall, r.segrank, 0 AS k, coalesce(sum(r.n), 0)::bigint AS n,"""
        sizes_from = """FROM (SELECT coalesce(k.segrank, 0) AS segrank, c.n FROM counts c LEFT JOIN kept k ON k.sv = c.sv) r
GROUP BY GROUPING SETS ((r.segrank), ())"""
        groups = "GROUP BY GROUPING SETS ((d.k, d.segrank), (d.k))"
        overall_d = "GROUPING(d.segrank)"
        kept = "\nUNION ALL\nSELECT 2, 0, k.segrank, 0, 0" + ", NULL" * 6 + ", k.sv" + ", NULL" * 4 + " FROM kept k"
    else:
        sql = ",\nlab AS (SELECT c.*, 0::bigint AS segrank FROM chains c)"
        sizes = "SELECT 0 AS kind, 1 AS overall, l.segrank, 0 AS k, count(*) AS n,"
        sizes_from = "FROM lab l GROUP BY l.segrank"
        groups = "GROUP BY d.k, d.segrank"
        overall_d = "1"
        kept = ""

    # Durations t_k − t_{k−1} (intervals: exact µs) of the chains that reached k.
    pairs = "\n      UNION ALL ".join(
        f"SELECT l.segrank, {k} AS k, l.t{k} - l.t{k - 1} AS d FROM lab l WHERE l.level > {k}" for k in range(1, n)
    )
    bounds = [f"interval '{b} seconds'" for b in stats.HISTOGRAM_BOUNDS]
    buckets = [f"count(*) FILTER (WHERE d.d <= {bounds[0]})"]
    buckets += [f"count(*) FILTER (WHERE d.d > {a} AND d.d <= {b})" for a, b in zip(bounds, bounds[1:])]
    buckets.append(f"count(*) FILTER (WHERE d.d > {bounds[-1]})")
    # The order statistics that median and p90 need (app/reports/stats.py, numpy's
    # linear method): 0-based ranks (n−1) div 2 and n div 2; ⌊0.9·(n−1)⌋ and the
    # next — computed in float8 exactly as Python computes them.
    h = "floor(0.9::float8 * (count(*) - 1)::float8)::int"
    ordered = "(array_agg(d.d ORDER BY d.d))"
    if seg is not None and n > 1:
        sql += _merged_statistics(pairs, buckets)
    sql += f"""
{sizes}
       NULL::numeric AS total, NULL::numeric AS med_lo, NULL::numeric AS med_hi,
       NULL::numeric AS p90_lo, NULL::numeric AS p90_hi, NULL::bigint[] AS histogram, NULL::text AS value,
       NULL::bytea AS ids, NULL::bytea AS levels, NULL::bytea AS segments, NULL::bytea AS times
{sizes_from}"""
    if seg is not None and n > 1:
        hist = ", ".join(f"g.h{i}" for i in range(len(buckets)))
        sql += f"""
UNION ALL
SELECT 1, 0, g.segrank, g.k, g.n, extract(epoch FROM g.total),
       extract(epoch FROM g.sorted[(g.n::int - 1) / 2 + 1]),
       extract(epoch FROM g.sorted[g.n::int / 2 + 1]),
       extract(epoch FROM g.sorted[{h.replace("count(*)", "g.n")} + 1]),
       extract(epoch FROM g.sorted[least({h.replace("count(*)", "g.n")} + 2, g.n::int)]),
       ARRAY[{hist}], NULL, NULL, NULL, NULL, NULL
FROM segstats g
UNION ALL
SELECT 1, 1, NULL, a.k, a.n, extract(epoch FROM a.total),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 1) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 2) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 3) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 4) * interval '1 microsecond'),
       ARRAY[{hist.replace("g.", "a.")}], NULL, NULL, NULL, NULL, NULL
FROM allstats a JOIN (SELECT s.k, s.i, s.hi AS us FROM search s WHERE s.hi - s.lo <= 1) f ON f.k = a.k
GROUP BY a.k, a.n, a.total, {hist.replace("g.", "a.")}"""
    elif n > 1:
        sql += f"""
UNION ALL
SELECT 1, {overall_d}, d.segrank, d.k, count(*),
       extract(epoch FROM sum(d.d)),
       extract(epoch FROM {ordered}[(count(*)::int - 1) / 2 + 1]),
       extract(epoch FROM {ordered}[count(*)::int / 2 + 1]),
       extract(epoch FROM {ordered}[{h} + 1]),
       extract(epoch FROM {ordered}[least({h} + 2, count(*)::int)]),
       ARRAY[{", ".join(buckets)}],
       NULL, NULL, NULL, NULL, NULL
FROM ({pairs}) d
{groups}"""
    sql += kept
    if with_people:
        times = " || ".join(f"coalesce(timestamptz_send(l.t{k} + {_TO_UNIX}), {_NO_TIME})" for k in range(n))
        sql += f"""
UNION ALL
SELECT 3, 0, 0, 0, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       string_agg(uuid_send(l.person_id), ''::bytea),
       string_agg(int2send(l.level::int2), ''::bytea),
       string_agg(int2send(l.segrank::int2), ''::bytea),
       string_agg({times}, ''::bytea)
FROM lab l"""
    return sql


def _merged_statistics(pairs: str, buckets: list[str]) -> str:
    """CTEs of the duration statistics of a segmented funnel, each duration
    sorted once: `segstats` per (step, segment) — count, exact sum, histogram
    counts, the durations sorted (array_agg ORDER BY) — and `allstats` per step
    (everyone), whose sums add the segments' up; its order statistics are found
    in the segments' sorted arrays, not by sorting every duration again (an
    ordered aggregate sorts its input per group, so GROUPING SETS sorted each
    duration twice). `search` (recursive): for each of the four positions p
    (1-based) that median and p90 need, a binary search over whole
    microseconds for the least v with #(durations ≤ v) ≥ p — that is the p-th
    smallest duration, exactly, since durations are whole microseconds —
    counting with width_bucket (a binary search in each sorted array: the
    number of elements ≤ v). About 40 halvings of [min − 1 µs, max]."""
    hist = ",\n           ".join(f"{b} AS h{i}" for i, b in enumerate(buckets))
    sums = ", ".join(f"sum(g.h{i})::bigint AS h{i}" for i in range(len(buckets)))
    h = "floor(0.9::float8 * (a.n - 1)::float8)::bigint"
    return f""",
segstats AS MATERIALIZED (
    SELECT d.k, d.segrank, count(*) AS n, sum(d.d) AS total, array_agg(d.d ORDER BY d.d) AS sorted,
           {hist}
    FROM ({pairs}) d
    GROUP BY d.k, d.segrank
),
allstats AS MATERIALIZED (
    SELECT g.k, sum(g.n)::bigint AS n, sum(g.total) AS total, {sums},
           min(g.sorted[1]) AS lo, max(g.sorted[g.n::int]) AS hi
    FROM segstats g GROUP BY g.k
),
search (k, i, pos, lo, hi) AS (
    SELECT a.k, r.i, r.pos, (extract(epoch FROM a.lo) * 1000000)::bigint - 1,
           (extract(epoch FROM a.hi) * 1000000)::bigint
    FROM allstats a CROSS JOIN LATERAL (VALUES (1, (a.n - 1) / 2 + 1), (2, a.n / 2 + 1), (3, {h} + 1),
                                               (4, least({h} + 2, a.n))) r(i, pos)
    UNION ALL
    SELECT s.k, s.i, s.pos,
           CASE WHEN c.le >= s.pos THEN s.lo ELSE (s.lo + s.hi) / 2 END,
           CASE WHEN c.le >= s.pos THEN (s.lo + s.hi) / 2 ELSE s.hi END
    FROM search s CROSS JOIN LATERAL (
        SELECT sum(width_bucket(((s.lo + s.hi) / 2) * interval '1 microsecond', g.sorted)) AS le
        FROM segstats g WHERE g.k = s.k
    ) c
    WHERE s.hi - s.lo > 1
)"""


# ======================================================================= assembly


def _seconds(us: int) -> float:
    """µs as the float seconds app/reports/stats.py sees: the same rounding."""
    return us / 1_000_000


def _us(seconds: Decimal) -> int:
    """extract(epoch ...) of an interval (exact, 6 decimals) as integer µs."""
    return int(seconds.scaleb(6))


def _duration(r: Any) -> stats.DurationStats:
    """DurationStats from one statistics row, with app/reports/stats.py's exact
    arithmetic (so the figures are those it gives on the same durations)."""
    n = r["n"]
    lo, hi = _seconds(_us(r["med_lo"])), _seconds(_us(r["med_hi"]))
    median = lo if n % 2 else (lo + hi) / 2.0
    # stats.percentile(values, 90): virtual index h = 0.9 (n − 1), between the
    # order statistics ⌊h⌋ and the next (the statement picked those two).
    h = (90 / 100.0) * (n - 1)
    t = h - int(h)
    a, b = _seconds(_us(r["p90_lo"])), _seconds(_us(r["p90_hi"]))
    diff = b - a
    p90 = b - diff * (1.0 - t) if t >= 0.5 else a + diff * t
    bounds: list[float | None] = [float(x) for x in stats.HISTOGRAM_BOUNDS]
    bounds.append(None)
    return stats.DurationStats(
        count=n,
        median_seconds=median,
        # The exact mean of the exact µs sum, rounded once.
        mean_seconds=float(Fraction(_us(r["total"]), 1_000_000 * n)),
        p90_seconds=p90,
        histogram=tuple(zip(bounds, r["histogram"])),
    )


def _steps_report(spec: FunnelSpec, entered: int, rows: dict[int, Any]) -> list[FunnelStepResult]:
    """The steps of one group: `entered` people at step 0, rows[k] the
    statistics row of step k (missing: nobody reached it)."""
    people = [entered] + [rows[k]["n"] if k in rows else 0 for k in range(1, len(spec.steps))]
    out = []
    for k, step in enumerate(spec.steps):
        if k == 0:
            dropped, conv_prev = 0, (1.0 if people[0] else 0.0)
            conv_start = conv_prev
            timing = None
        else:
            dropped = people[k - 1] - people[k]
            conv_prev = people[k] / people[k - 1] if people[k - 1] else 0.0
            conv_start = people[k] / people[0] if people[0] else 0.0
            timing = _duration(rows[k]) if k in rows else None
        out.append(FunnelStepResult(k, step.event, people[k], dropped, conv_prev, conv_start, timing))
    return out


def _value_order(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def _segments(spec: FunnelSpec, sizes: dict[int, int], rows: dict[int, dict[int, Any]], values: dict[int, str]
              ) -> list[FunnelSegmentResult]:
    seg = spec.segment_by
    assert seg is not None
    segments = []
    for rank, entered in sizes.items():
        if entered == 0:  # nobody at step 0: left out (cannot happen here)
            continue
        steps = _steps_report(spec, entered, rows.get(rank, {}))
        segments.append(FunnelSegmentResult(values.get(rank), steps, steps[-1].people / steps[0].people, None))
    # People at step 0 descending, then value ascending (code points), null last.
    segments.sort(key=lambda s: _value_order(s.value))
    segments.sort(key=lambda s: s.steps[0].people, reverse=True)

    if segments:
        if seg.baseline is None:
            base: FunnelSegmentResult | None = segments[0]
        else:
            # A baseline that names no segment (unknown, or folded into null):
            # no comparisons rather than comparing against something not asked for.
            base = next((s for s in segments if s.value == seg.baseline), None)
        if base is not None:
            x0, n0 = base.steps[-1].people, base.steps[0].people
            for s in segments:
                if s is base:
                    continue
                sig = stats.significance(s.steps[-1].people, s.steps[0].people, x0, n0)
                s.comparison = FunnelComparison(
                    baseline=base.value,
                    lift=sig.lift,
                    z_score=sig.z_score,
                    p_value=sig.p_value,
                    probability_to_beat_baseline=sig.probability_to_beat_baseline,
                    significant=sig.significant,
                )
    return segments


def _big_endian(typecode: str, data: bytes | None) -> array:
    out = array(typecode, data or b"")
    if sys.byteorder == "little":
        out.byteswap()
    return out


def _people(spec: FunnelSpec, r: Any, values: dict[int, str]) -> FunnelPeople:
    """FunnelPeople from the statement's byte strings (kind 3)."""
    ranks = _big_endian("h", r["segments"])
    top = max(values, default=0)
    # values[rank]: rank 0 is the null segment; ranks of values not kept stay None.
    names: list = [None] * (top + 1)
    for rank, value in values.items():
        names[rank] = value
    return FunnelPeople(
        steps=len(spec.steps),
        ids=bytes(r["ids"] or b""),
        levels=bytes(_big_endian("h", r["levels"]).tolist()),
        times=_big_endian("q", r["times"]),
        segments=ranks,
        values=names,
    )


def _empty(spec: FunnelSpec, computed_at: datetime, with_people: bool) -> FunnelResult:
    steps = _steps_report(spec, 0, {})
    people = FunnelPeople(steps=len(spec.steps)) if with_people else None
    return FunnelResult(steps=steps, segments=[], computed_at=computed_at, people=people)


# Transaction-local planner settings of the funnel's statement, on top of the
# report service's REPORT_SETTINGS (so only when it runs in the service's
# transaction): parallel workers for its big index and heap scans — the starts'
# merge with the step-1 times and the pass over the step-0 events that carry
# the segment property — which the default costs (setup 1000, 0.1 a row)
# price out. The size thresholds stay the defaults: a small project's funnel
# stays serial. The answer does not depend on the plan.
STATEMENT_SETTINGS = """SELECT set_config('parallel_setup_cost', '100', true),
       set_config('parallel_tuple_cost', '0.01', true)"""


async def compute_funnel(
    conn_or_pool: Any, project_id: uuid.UUID, spec: FunnelSpec, *, with_people: bool = True
) -> FunnelResult:
    """The funnel report of `spec` over the project's events, as of now; with
    `with_people`, also every person's chain (for peopleList), from the same
    statement. Pure of caching (the report service caches it)."""
    computed_at = datetime.now(timezone.utc)
    if spec.from_ >= spec.to:  # an empty range: nobody enters
        return _empty(spec, computed_at, with_people)
    sql, params = build_query(project_id, spec, with_people)
    in_transaction = getattr(conn_or_pool, "is_in_transaction", None)
    if in_transaction is not None and in_transaction():
        await conn_or_pool.execute(STATEMENT_SETTINGS)
    records = await conn_or_pool.fetch(sql, *params)

    sizes: dict[int, int] = {}
    overall_rows: dict[int, Any] = {}
    segment_rows: dict[int, dict[int, Any]] = {}
    values: dict[int, str] = {}
    entered = 0
    people_row = None
    for r in records:
        kind = r["kind"]
        if kind == 0:
            if r["overall"]:
                entered = r["n"]
            else:
                sizes[r["segrank"]] = r["n"]
        elif kind == 1:
            if r["overall"]:
                overall_rows[r["k"]] = r
            else:
                segment_rows.setdefault(r["segrank"], {})[r["k"]] = r
        elif kind == 2:
            values[r["segrank"]] = r["value"]
        else:
            people_row = r

    steps = _steps_report(spec, entered, overall_rows)
    segments = _segments(spec, sizes, segment_rows, values) if spec.segment_by is not None else []
    people = None
    if with_people:
        people = _people(spec, people_row, values) if people_row is not None else FunnelPeople(steps=len(spec.steps))
    return FunnelResult(steps=steps, segments=segments, computed_at=computed_at, people=people)


async def compute_funnel_people(conn_or_pool: Any, project_id: uuid.UUID, spec: FunnelSpec) -> FunnelPeople:
    """Only the per-person chains of `spec`, as of now (peopleList of a report
    that was computed without them)."""
    result = await compute_funnel(conn_or_pool, project_id, spec, with_people=True)
    assert result.people is not None
    return result.people

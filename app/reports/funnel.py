"""The funnel report (DESIGN.md §5 Funnel), computed in PostgreSQL.

One statement does the work:

1. `m`: the events that can matter — a step's name, from ≤ ts < to (a later step
   is never before its start, and every start is ≥ from) — read through
   events_name_ts, each with a bit mask of the steps it matches (name and `where`
   filters, compiled by app/storage/filters.py); bit 0 marks a start.
2. Per person who has a start: their events' timestamps and masks as two arrays
   in (ts, seq) order, walked by `whodid_funnel_chain` (db/migrations/0003_funnel.sql),
   a PL/pgSQL state machine that returns the person's level, chain start and the
   chain's timestamps.
3. With segmentBy, the person's segment value (current person property, or the
   property of their chain's step-0 event, in text form) and the fold of every
   value outside the `limit` largest into null — in SQL too.

The answer is one row per person who entered the funnel. Python then does one
pass over those rows (never over events): people per step and segment, the
duration statistics (app/reports/stats.py) and the significance against the
baseline. The per-person chains are kept, compactly, in the result, so that
`peopleList` pages come from the same snapshot as the counts — also when the
result comes from the report cache.
"""
from __future__ import annotations

import uuid
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Iterable, Sequence

import orjson

from ..errors import BadInput
from ..storage.filters import Params, PropertyFilter, filters_sql, validate_filter
from . import stats

__all__ = [
    "MAX_STEPS",
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
]

MAX_STEPS = 20
MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 255
MAX_SEGMENT_LIMIT = 100
MAX_WINDOW_SECONDS = 2**31 - 1  # GraphQL Int
MAX_BASELINE_LENGTH = 10_000

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)


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


def _micros(t: datetime) -> int:
    return (t - EPOCH) // ONE_MICROSECOND


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

    @property
    def earliest_start_suffices(self) -> bool:
        """True when the earliest start is provably the person's best, so that the
        walk can stop after it: no window, and either no `where` filter or all step
        names distinct (docs/reports.md, "Funnel", has the argument)."""
        if self.window_seconds is not None:
            return False
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names) or not any(s.where for s in self.steps)

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
    times[i*steps + k] (µs since the epoch; 0 when not reached), and is in segment
    number segments[i] of the result (empty when not segmented)."""

    steps: int
    ids: bytes = b""
    levels: bytes = b""
    times: array = field(default_factory=lambda: array("q"))
    segments: array = field(default_factory=lambda: array("h"))
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

    def page(
        self,
        step: int,
        status: StepStatus,
        first: int,
        after: tuple[int, uuid.UUID] | None = None,
        segment: int | None = None,
    ) -> PeoplePage:
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
    people: FunnelPeople

    def people_page(
        self,
        step: int,
        status: StepStatus | str = StepStatus.REACHED,
        first: int = 50,
        after: tuple[int, uuid.UUID] | None = None,
        segment: int | None = None,
    ) -> PeoplePage:
        """peopleList of step `step` (of segment number `segment`, or overall),
        ordered by (time, id), starting after the key `after`."""
        return self.people.page(step, StepStatus(status), first, after, segment)


# ======================================================================= SQL


def build_query(project_id: uuid.UUID, spec: FunnelSpec) -> tuple[str, list[Any]]:
    """The statement and its parameters; one row per person who entered:
    (person_id, level, times timestamptz[], segment text)."""
    p = Params(project_id)
    names = sorted({s.event for s in spec.steps})
    names_ph = p.add(names)
    from_ph = p.add(spec.from_)
    to_ph = p.add(spec.to)
    name_ph: dict[str, str] = {}
    cases = []
    for k, step in enumerate(spec.steps):
        if step.event not in name_ph:
            name_ph[step.event] = p.add(step.event)
        cond = f"e.name = {name_ph[step.event]}::text"
        if step.where:
            cond += " AND " + filters_sql("e.properties", list(step.where), p)
        cases.append(f"CASE WHEN {cond} THEN {1 << k} ELSE 0 END")
    mask = "\n               | ".join(cases)

    seg = spec.segment_by
    m_extra = agg_extra = join = ""
    segment_value = "NULL::text"
    if seg is not None and seg.first_step_property is not None:
        key_ph = p.add(seg.first_step_property)
        m_extra = f", whodid_text(e.properties -> {key_ph}::text) AS sv"
        agg_extra = ",\n           array_agg(CASE WHEN (m.mask & 1) = 1 THEN m.sv END ORDER BY m.ts, m.seq) AS svs"
        segment_value = "p.svs[f.start_idx]"
    elif seg is not None:
        key_ph = p.add(seg.person_property)
        join = "\n    LEFT JOIN persons pr ON pr.project_id = $1 AND pr.id = p.person_id"
        segment_value = f"whodid_text(pr.properties -> {key_ph}::text)"

    nsteps_ph = p.add(len(spec.steps))
    window_ph = p.add(spec.window_seconds)
    earliest_ph = p.add(spec.earliest_start_suffices)

    sql = f"""
WITH chains AS (
    SELECT p.person_id, f.level, f.times, {segment_value} AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks{agg_extra}
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event (3-4x slower than a scan and a sort once the table is larger
            -- than shared_buffers). The aggregates still say ORDER BY: the
            -- arrays' order must not depend on the plan; sorted input makes
            -- their own sorts cheap (PostgreSQL >= 16 skips them).
            SELECT e.person_id, e.ts, e.seq,
                   ({mask}) AS mask{m_extra}
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY({names_ph}::text[])
              AND e.ts >= {from_ph}::timestamptz AND e.ts < {to_ph}::timestamptz
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL whodid_funnel_chain(
        p.tss, p.masks, {nsteps_ph}::int, {window_ph}::bigint, {earliest_ph}::boolean) f{join}
)"""
    if seg is None:
        sql += "\nSELECT c.person_id, c.level, c.times, NULL::text AS segment FROM chains c"
    else:
        limit_ph = p.add(seg.limit)
        # The `limit` values with the most people (ties: value ascending, in code
        # point order: COLLATE "C" on UTF-8) keep a segment; the rest fold into null.
        sql += f""",
kept AS (
    SELECT sv FROM chains WHERE sv IS NOT NULL
    GROUP BY sv ORDER BY count(*) DESC, sv COLLATE "C" LIMIT {limit_ph}::int
)
SELECT c.person_id, c.level, c.times, k.sv AS segment
FROM chains c LEFT JOIN kept k ON k.sv = c.sv"""
    return sql, p.values


# ======================================================================= assembly


def _steps_report(
    spec: FunnelSpec, members: Sequence[int], levels: bytes, times: array
) -> list[FunnelStepResult]:
    n = len(spec.steps)
    people = [0] * n
    durations: list[list[float]] = [[] for _ in range(n)]
    for i in members:
        level = levels[i]
        base = i * n
        for k in range(level):
            people[k] += 1
        for k in range(1, level):
            durations[k].append((times[base + k] - times[base + k - 1]) / 1_000_000)
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
            timing = stats.duration_stats(durations[k])
        out.append(FunnelStepResult(k, step.event, people[k], dropped, conv_prev, conv_start, timing))
    return out


def _value_order(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def _segments(
    spec: FunnelSpec, values: list[str | None], levels: bytes, times: array
) -> tuple[list[FunnelSegmentResult], array]:
    seg = spec.segment_by
    assert seg is not None
    groups: dict[str | None, list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(v, []).append(i)
    segments = []
    for value, members in groups.items():
        steps = _steps_report(spec, members, levels, times)
        if steps[0].people == 0:  # nobody at step 0: left out (cannot happen here)
            continue
        segments.append(FunnelSegmentResult(value, steps, steps[-1].people / steps[0].people, None))
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

    index = {s.value: k for k, s in enumerate(segments)}
    return segments, array("h", (index.get(v, -1) for v in values))


async def compute_funnel(conn_or_pool: Any, project_id: uuid.UUID, spec: FunnelSpec) -> FunnelResult:
    """The funnel report of `spec` over the project's events, as of now. Pure of
    caching (the report service caches it)."""
    computed_at = datetime.now(timezone.utc)
    sql, params = build_query(project_id, spec)
    rows = await conn_or_pool.fetch(sql, *params)

    n = len(spec.steps)
    ids = bytearray()
    levels = bytearray()
    times = array("q", bytes(8 * n * len(rows)))
    values: list[str | None] = []
    for i, r in enumerate(rows):
        ids += r[0].bytes
        levels.append(r[1])
        base = i * n
        for k, t in enumerate(r[2]):
            times[base + k] = _micros(t)
        values.append(r[3])
    ids_b, levels_b = bytes(ids), bytes(levels)

    everyone = range(len(rows))
    steps = _steps_report(spec, everyone, levels_b, times)
    if spec.segment_by is not None:
        segments, seg_index = _segments(spec, values, levels_b, times)
    else:
        segments, seg_index = [], array("h")
    people = FunnelPeople(steps=n, ids=ids_b, levels=levels_b, times=times, segments=seg_index)
    return FunnelResult(steps=steps, segments=segments, computed_at=computed_at, people=people)

"""The funnel's assembly: the statement's rows (of the kinds of RowKind)
become a FunnelResult — the steps, the rates, the segments and their
significance tests (app/reports/stats.py), the people's chains; plain Python,
no database."""
from __future__ import annotations

import sys
import uuid
from array import array
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from itertools import chain
from typing import Any, NamedTuple, Sequence

from .. import stats
from ..parts import kth_smallest, top_values
from .people import FunnelPeople, PeoplePage
from .spec import FunnelSpec, StepStatus


class RowKind(IntEnum):
    """The statement's rows, by their column `kind` (the statement writes
    these numbers; app/reports/funnel/statement.py)."""

    # People at step 0 per segment (`overall` 1: everyone).
    SIZES = 0
    # Duration statistics per (segment, step ≥ 1) (`overall` 1: everyone).
    DURATIONS = 1
    # A kept segment value by its rank (`segrank`).
    SEGMENT_VALUE = 2
    # (with_people) every person's chain as byte strings.
    PEOPLE = 3
    # A part of build_parts (the persons of one range of ids): people at
    # step 0 per raw segment value `sv` (not folded).
    PART_SIZES = 4
    # A part of build_parts: per (raw value sv, step k ≥ 1), the count, the
    # exact sum in µs, the histogram counts and the durations in µs sorted.
    PART_DURATIONS = 5


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


def _seconds(us: int) -> float:
    """µs as the float seconds app/reports/stats.py sees: the same rounding."""
    return us / 1_000_000


def _us(seconds: Decimal) -> int:
    """extract(epoch ...) of an interval (exact, 6 decimals) as integer µs."""
    return int(seconds.scaleb(6))


class Durations(NamedTuple):
    """The duration statistics' inputs of one (segment, step): the count, the
    exact sum and the order statistics median and p90 need (0-based ranks
    (n−1) div 2, n div 2, ⌊0.9·(n−1)⌋ and the next), in whole µs, and the
    histogram counts."""

    n: int
    total: int
    med_lo: int
    med_hi: int
    p90_lo: int
    p90_hi: int
    histogram: tuple[int, ...]

    @classmethod
    def of(cls, r: Any) -> "Durations":
        """From one DURATIONS row of the statement (seconds, exact decimals)."""
        return cls(r["n"], _us(r["total"]), _us(r["med_lo"]), _us(r["med_hi"]), _us(r["p90_lo"]),
                   _us(r["p90_hi"]), tuple(r["histogram"]))


def _p90_rank(n: int) -> int:
    """⌊0.9·(n−1)⌋ in float as the statement (and stats.percentile) computes it."""
    return int((90 / 100.0) * (n - 1))


def _duration(d: Durations) -> stats.DurationStats:
    """DurationStats from one group's Durations, with app/reports/stats.py's
    exact arithmetic (so the figures are those it gives on the same durations)."""
    n = d.n
    lo, hi = _seconds(d.med_lo), _seconds(d.med_hi)
    median = lo if n % 2 else (lo + hi) / 2.0
    # stats.percentile(values, 90): virtual index h = 0.9 (n − 1), between the
    # order statistics ⌊h⌋ and the next (the statement picked those two).
    h = (90 / 100.0) * (n - 1)
    t = h - int(h)
    a, b = _seconds(d.p90_lo), _seconds(d.p90_hi)
    diff = b - a
    p90 = b - diff * (1.0 - t) if t >= 0.5 else a + diff * t
    bounds: list[float | None] = [float(x) for x in stats.HISTOGRAM_BOUNDS]
    bounds.append(None)
    return stats.DurationStats(
        count=n,
        median_seconds=median,
        # The exact mean of the exact µs sum, rounded once.
        mean_seconds=float(Fraction(d.total, 1_000_000 * n)),
        p90_seconds=p90,
        histogram=tuple(zip(bounds, d.histogram)),
    )


def _steps_report(spec: FunnelSpec, entered: int, rows: dict[int, Durations]) -> list[FunnelStepResult]:
    """The steps of one group: `entered` people at step 0, rows[k] the
    statistics of step k (missing: nobody reached it)."""
    people = [entered] + [rows[k].n if k in rows else 0 for k in range(1, len(spec.steps))]
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


def _segments(spec: FunnelSpec, sizes: dict[int, int], rows: dict[int, dict[int, Durations]],
              values: dict[int, str]) -> list[FunnelSegmentResult]:
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
    """FunnelPeople from the statement's byte strings (a RowKind.PEOPLE row)."""
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


def assemble(rows: Sequence[Any], spec: FunnelSpec, computed_at: datetime, *, with_people: bool = False
             ) -> FunnelResult:
    """The funnel report from the statement's rows (no rows: nobody entered,
    as for an empty range, which is not run), or from the rows of all the
    parts of build_parts together (PART_SIZES, PART_DURATIONS: `_from_parts`);
    with `with_people`, also every person's chain (the statement was built
    with them)."""
    sizes: dict[int, int] = {}
    overall_rows: dict[int, Durations] = {}
    segment_rows: dict[int, dict[int, Durations]] = {}
    values: dict[int, str] = {}
    entered = 0
    people_row = None
    part_rows: list[Any] = []
    for r in rows:
        kind = RowKind(r["kind"])
        if kind is RowKind.SIZES:
            if r["overall"]:
                entered = r["n"]
            else:
                sizes[r["segrank"]] = r["n"]
        elif kind is RowKind.DURATIONS:
            if r["overall"]:
                overall_rows[r["k"]] = Durations.of(r)
            else:
                segment_rows.setdefault(r["segrank"], {})[r["k"]] = Durations.of(r)
        elif kind is RowKind.SEGMENT_VALUE:
            values[r["segrank"]] = r["value"]
        elif kind is RowKind.PEOPLE:
            people_row = r
        else:
            part_rows.append(r)
    if part_rows:
        entered, sizes, overall_rows, segment_rows, values = _from_parts(spec, part_rows)

    steps = _steps_report(spec, entered, overall_rows)
    segments = _segments(spec, sizes, segment_rows, values) if spec.segment_by is not None else []
    people = None
    if with_people:
        people = _people(spec, people_row, values) if people_row is not None else FunnelPeople(steps=len(spec.steps))
    return FunnelResult(steps=steps, segments=segments, computed_at=computed_at, people=people)


def _from_parts(spec: FunnelSpec, rows: Sequence[Any]) -> tuple[
        int, dict[int, int], dict[int, Durations], dict[int, dict[int, Durations]], dict[int, str]]:
    """(entered, people per segment rank, everyone's Durations per step,
    each segment's per step, the kept values by rank) from the parts' rows,
    as the one statement gives them: the people per raw value added up over
    the parts; the `limit` values with the most people kept (ties: value
    ascending in code-point order, as COLLATE "C" orders UTF-8), ranked 1..,
    every other value folded into null (rank 0); each group's durations
    merged from the sorted arrays of its (part, raw value) rows (`_merged`)."""
    people: dict[str | None, int] = {}
    for r in rows:
        if r["kind"] == RowKind.PART_SIZES:
            people[r["sv"]] = people.get(r["sv"], 0) + r["n"]
    seg = spec.segment_by
    rank = {} if seg is None else top_values(people, seg.limit)
    sizes: dict[int, int] = {}
    for v, n in people.items():
        sizes[rank.get(v, 0)] = sizes.get(rank.get(v, 0), 0) + n
    by_segment: dict[tuple[int, int], list[Any]] = {}
    by_step: dict[int, list[Any]] = {}
    for r in rows:
        if r["kind"] == RowKind.PART_DURATIONS:
            by_segment.setdefault((rank.get(r["sv"], 0), r["k"]), []).append(r)
            by_step.setdefault(r["k"], []).append(r)
    segment_rows: dict[int, dict[int, Durations]] = {}
    for (segrank, k), group in by_segment.items():
        segment_rows.setdefault(segrank, {})[k] = _merged(group)
    overall = {k: _merged(group) for k, group in by_step.items()}
    return sum(people.values()), sizes, overall, segment_rows, {i: v for v, i in rank.items()}


def _merged(rows: Sequence[Any]) -> Durations:
    """One group's Durations from PART_DURATIONS rows (disjoint durations,
    each row's sorted): count, sum and histogram added up; each order
    statistic found in the sorted arrays without merging them
    (app/reports/parts.py `kth_smallest`)."""
    n = sum(r["n"] for r in rows)
    total = sum(int(r["total"]) for r in rows)
    histogram = tuple(map(sum, zip(*(r["histogram"] for r in rows), strict=True)))
    arrays = [r["us"] for r in rows]
    h = _p90_rank(n)
    ranks = ((n - 1) // 2, n // 2, h, min(h + 1, n - 1))
    if len(arrays) > 1 and _HALVINGS * len(ranks) * len(arrays) > n:
        # Many arrays for their elements (a segment property of many values,
        # each a few durations): one merge of them costs less than the
        # selection's bisections (timsort merges the sorted runs).
        arrays = [sorted(chain.from_iterable(arrays))]
    med_lo, med_hi, p90_lo, p90_hi = (kth_smallest(arrays, i) for i in ranks)
    return Durations(n, total, med_lo, med_hi, p90_lo, p90_hi, histogram)


# About how many rounds app/reports/parts.py `kth_smallest` makes (each
# drops a quarter or more of the elements left: a few dozen at most).
_HALVINGS = 40

"""Rows of the trends statement -> the answer (plain Python, no database).

Each row is one (series, rank, start) group or, with is_total, one (series,
rank) group over the whole range. Every input series gives one output series
without a breakdown (empty periods and all); with one, a series per kept
value in rank order, then the null series when it has events.

The rows of the parts (statement.py build_parts: per range of person ids,
per raw breakdown value) are first folded into those groups (`fold_parts`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from ..parts import EXACT, kth_smallest, top_values
from ..periods import periods_overlapping, to_utc
from .spec import TrendMath, TrendPeopleSpec, TrendsSpec


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    value: float | None


@dataclass(frozen=True)
class TrendSeries:
    index: int
    event: str
    math: TrendMath
    # The breakdown value (None: no breakdown, or the null series).
    breakdown_value: str | None
    # The breakdown rank (1 = most events; None: no breakdown, or the null series).
    rank: int | None
    total: float | None
    points: tuple[TrendPoint, ...]


@dataclass(frozen=True)
class TrendsResult:
    series: tuple[TrendSeries, ...]


@dataclass(frozen=True)
class PeoplePage:
    ids: tuple[uuid.UUID, ...]
    total: int
    has_next_page: bool


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def value_of(math: TrendMath, row: Any | None) -> float | None:
    """The math's value of one group (row None: no matching event)."""
    events = 0 if row is None else row["events"]
    if math is TrendMath.TOTAL:
        return float(events)
    if math is TrendMath.PEOPLE:
        return float(0 if row is None else row["people"])
    if math is TrendMath.EVENTS_PER_PERSON:
        people = 0 if row is None else row["people"]
        return events / people if people else 0.0
    n = 0 if row is None else row["n_values"]
    if math is TrendMath.SUM:
        return float(row["sum"]) if n else 0.0
    if not n:
        return None
    if math is TrendMath.AVERAGE:
        return float(Decimal(row["sum"]) / n)
    if math is TrendMath.MIN:
        return _float(row["min"])
    if math is TrendMath.MAX:
        return _float(row["max"])
    return float((row["median_low"] + row["median_high"]) / 2)


def fold_parts(rows: Sequence[Any], spec: TrendsSpec) -> list[dict[str, Any]]:
    """The statement's rows (one per (series, rank, start) and per (series,
    rank) over the range, is_total) from the rows of build_parts' parts
    together: each series' breakdown values ranked over all the parts by
    their events (descending, then value ascending in code-point order:
    `top_values`), the top `limit` kept, the others and null folded into
    rank 0; the cells of one group added up (a person is whole in one part
    and, by a person property, has one value: events, people, values, sums
    add, min of mins, max of maxes; over the range, the people are the
    cells' range_people added up); a MEDIAN's lower and upper middle found
    in the group's sorted arrays (`kth_smallest`)."""
    cells = [r for r in rows if r["vals"] is None]
    ranks: dict[int, dict[str, int]] = {}
    if spec.breakdown is not None:
        events: dict[int, dict[str | None, int]] = {}
        for r in cells:
            counts = events.setdefault(r["series"], {})
            counts[r["bvalue"]] = counts.get(r["bvalue"], 0) + r["events"]
        ranks = {i: top_values(counts, spec.breakdown.limit) for i, counts in events.items()}
    groups: dict[tuple[int, int, datetime | None], dict[str, Any]] = {}

    def group(r: Any, total: bool) -> dict[str, Any]:
        rank = ranks.get(r["series"], {}).get(r["bvalue"], 0)
        start = None if total else r["start"]
        g = groups.get((r["series"], rank, start))
        if g is None:
            g = groups[(r["series"], rank, start)] = {
                "series": r["series"], "rank": rank, "start": start, "is_total": total,
                "bvalue": r["bvalue"] if rank else None, "events": 0, "people": 0, "n_values": 0, "sum": None,
                "min": None, "max": None, "median_low": None, "median_high": None, "vals": [],
            }
        return g

    for r in cells:
        for total in (False, True):
            g = group(r, total)
            g["events"] += r["events"]
            g["people"] += (r["range_people"] if total else r["people"]) or 0
            g["n_values"] += r["n_values"]
            if r["n_values"]:
                # exact, as PostgreSQL's NUMERIC sum (not rounded to the default 28 digits)
                g["sum"] = r["sum"] if g["sum"] is None else EXACT.add(g["sum"], r["sum"])
                g["min"] = r["min"] if g["min"] is None else min(g["min"], r["min"])
                g["max"] = r["max"] if g["max"] is None else max(g["max"], r["max"])
    for r in rows:
        if r["vals"] is not None:
            for total in (False, True):
                group(r, total)["vals"].append(r["vals"])
    for g in groups.values():
        n = sum(len(a) for a in g["vals"])
        if n:
            g["median_low"], g["median_high"] = kth_smallest(g["vals"], (n - 1) // 2), kth_smallest(g["vals"], n // 2)
    return list(groups.values())


def assemble(rows: Sequence[Any], spec: TrendsSpec, computed_at: datetime) -> TrendsResult:
    if rows and "vals" in rows[0].keys():  # the rows of build_parts' parts
        rows = fold_parts(rows, spec)
    periods = [start for start, _ in periods_overlapping(spec.from_, spec.to, spec.interval)]
    groups: dict[tuple[int, int | None], dict[datetime | None, Any]] = {}
    values: dict[tuple[int, int | None], str | None] = {}
    for r in rows:
        key = (r["series"], r["rank"] or None)  # rank 0: the null series
        groups.setdefault(key, {})[None if r["is_total"] else to_utc(r["start"])] = r
        values[key] = r["bvalue"]
    out = []
    for i, s in enumerate(spec.series):
        if spec.breakdown is None:
            keys: list[int | None] = [None]
        else:
            ranks = sorted(rank for (j, rank) in groups if j == i and rank is not None)
            keys = [*ranks, *([None] if (i, None) in groups else [])]
        for rank in keys:
            group = groups.get((i, rank), {})
            out.append(TrendSeries(
                index=i,
                event=s.event,
                math=s.math,
                breakdown_value=values.get((i, rank)),
                rank=rank,
                total=value_of(s.math, group.get(None)),
                points=tuple(TrendPoint(start, value_of(s.math, group.get(start))) for start in periods),
            ))
    return TrendsResult(series=tuple(out))


def assemble_people(rows: Sequence[Any], page: TrendPeopleSpec, computed_at: datetime) -> PeoplePage:
    row = rows[0]
    ids = tuple(row["ids"])
    return PeoplePage(ids=ids[: page.first], total=row["total"], has_next_page=len(ids) > page.first)

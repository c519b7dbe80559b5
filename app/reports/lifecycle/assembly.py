"""The lifecycle report's rows → its answer: one point per period that overlaps
the range, empty ones too (the statement only returns periods with anyone),
each period's dormant people taken from the period before it."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from ..periods import period_start, periods_overlapping, to_utc
from .spec import LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus


@dataclass(frozen=True)
class LifecyclePoint:
    start: datetime
    new: int
    returning: int
    resurrecting: int
    dormant: int

    def count(self, status: LifecycleStatus) -> int:
        return {
            LifecycleStatus.NEW: self.new,
            LifecycleStatus.RETURNING: self.returning,
            LifecycleStatus.RESURRECTING: self.resurrecting,
            LifecycleStatus.DORMANT: self.dormant,
        }[LifecycleStatus(status)]


@dataclass(frozen=True)
class LifecycleResult:
    points: tuple[LifecyclePoint, ...]


@dataclass(frozen=True)
class LifecyclePeoplePage:
    people: tuple[uuid.UUID, ...]
    has_next_page: bool


def assemble(rows: Sequence[Any], spec: LifecycleSpec, computed_at: datetime) -> LifecycleResult:
    """Rows per active period p: new, returning, resurrecting in p, and
    dormant_after (active in p, not in the period after): P's dormant is
    dormant_after of the period before P."""
    by_start = {to_utc(r["start"]): r for r in rows}
    points = []
    for start, _ in periods_overlapping(spec.from_, spec.to, spec.interval):
        r = by_start.get(start)
        before = by_start.get(period_start(start - timedelta(microseconds=1), spec.interval))
        points.append(LifecyclePoint(
            start,
            0 if r is None else r["new"],
            0 if r is None else r["returning"],
            0 if r is None else r["resurrecting"],
            0 if before is None else before["dormant_after"],
        ))
    return LifecycleResult(tuple(points))


def assemble_people(rows: Sequence[Any], spec: LifecyclePeopleSpec, computed_at: datetime) -> LifecyclePeoplePage:
    ids = tuple(r["person_id"] for r in rows)
    return LifecyclePeoplePage(ids[: spec.first], len(ids) > spec.first)

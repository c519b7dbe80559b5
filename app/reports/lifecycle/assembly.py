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
    """Rows per active period (start): new, returning, resurrecting and
    active there, of some of the persons — a period may have a row per part
    of build_parts (the persons of one range of ids each), added up here. P's
    dormant are the people active in the period before P and not in P: the
    active of P−1 less the RETURNING of P (active in both)."""
    sums: dict[datetime, list[int]] = {}
    for r in rows:
        got = sums.setdefault(to_utc(r["start"]), [0, 0, 0, 0])
        got[0] += int(r["new"])
        got[1] += int(r["returning"])
        got[2] += int(r["resurrecting"])
        got[3] += int(r["active"])
    none = [0, 0, 0, 0]
    points = []
    for start, _ in periods_overlapping(spec.from_, spec.to, spec.interval):
        new, returning, resurrecting, _active = sums.get(start, none)
        before = sums.get(period_start(start - timedelta(microseconds=1), spec.interval), none)
        points.append(LifecyclePoint(start, new, returning, resurrecting, before[3] - returning))
    return LifecycleResult(tuple(points))


def assemble_people(rows: Sequence[Any], spec: LifecyclePeopleSpec, computed_at: datetime) -> LifecyclePeoplePage:
    ids = tuple(r["person_id"] for r in rows)
    return LifecyclePeoplePage(ids[: spec.first], len(ids) > spec.first)

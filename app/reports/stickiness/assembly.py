"""Rows of the stickiness statement -> the answer: K = the periods that
overlap the range, a bucket for every n = 1..K, zeros too."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from ..periods import count_periods_overlapping
from ..trends.assembly import PeoplePage
from .spec import StickinessPeopleSpec, StickinessSpec


@dataclass(frozen=True)
class StickinessBucket:
    periods: int
    people: int


@dataclass(frozen=True)
class StickinessResult:
    intervals: int
    buckets: tuple[StickinessBucket, ...]


def assemble(rows: Sequence[Any], spec: StickinessSpec, computed_at: datetime) -> StickinessResult:
    k = count_periods_overlapping(spec.from_, spec.to, spec.interval)
    people: dict[int, int] = {}
    for r in rows:  # one row per n, or per n and part (build_parts): added up
        people[r["n"]] = people.get(r["n"], 0) + r["people"]
    return StickinessResult(intervals=k, buckets=tuple(StickinessBucket(n, people.get(n, 0)) for n in range(1, k + 1)))


def assemble_people(rows: Sequence[Any], page: StickinessPeopleSpec, computed_at: datetime) -> PeoplePage:
    row = rows[0]
    ids = tuple(row["ids"])
    return PeoplePage(ids=ids[: page.first], total=row["total"], has_next_page=len(ids) > page.first)

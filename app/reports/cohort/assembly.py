"""The cohort's assembly: the statement's rows become a CohortResult — per
row every cell, its rate and whether it is complete at computedAt; plain
Python, no database (rows × buckets values, never one per event)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, NamedTuple, Sequence

from ..periods import bucket_seconds, period_end, to_utc
from .spec import CohortSpec


@dataclass(frozen=True)
class CohortCell:
    index: int
    people: int
    rate: float
    complete: bool


@dataclass(frozen=True)
class CohortRow:
    start: datetime
    size: int
    cells: tuple[CohortCell, ...]


@dataclass(frozen=True)
class CohortResult:
    rows: tuple[CohortRow, ...]


class GridRow(NamedTuple):
    """The statement's one row kind (app/reports/cohort/statement.py), read by
    column name: a row of the cohort table."""

    # The start of the cohortPeriod, in UTC wall time (a timestamp).
    row_start: datetime
    # Its members.
    size: int
    # Per cell n = 0 … buckets − 1, the members counted in it.
    people: Sequence[int]

    @classmethod
    def of(cls, record: Any) -> GridRow:
        return cls(record["row_start"], record["size"], record["people"])


def assemble(rows: Sequence[Any], spec: CohortSpec, computed_at: datetime) -> CohortResult:
    """The rows by start, each with its `buckets` cells; a cell is complete
    when its last moment (the row's period end + (n+1)·B) is not after
    `computed_at`. The rows of one row_start (one per part of build_parts,
    each over the members of a range of person ids) are added up."""
    at = to_utc(computed_at)
    grid = sorted(_added_up(GridRow.of(r) for r in rows).values(), key=lambda g: g.row_start)
    b = timedelta(seconds=bucket_seconds(spec.bucket))
    out = []
    for g in grid:
        end = period_end(g.row_start, spec.cohort_period)
        people = dict(enumerate(g.people))
        cells = tuple(
            CohortCell(index=n, people=people.get(n, 0), rate=people.get(n, 0) / g.size,
                       complete=end + (n + 1) * b <= at)
            for n in range(spec.buckets)
        )
        out.append(CohortRow(start=to_utc(g.row_start), size=g.size, cells=cells))
    return CohortResult(rows=tuple(out))


def _added_up(rows: Iterable[GridRow]) -> dict[datetime, GridRow]:
    """The rows by row_start, those of one row_start added up (size and each
    cell): the parts of build_parts count disjoint members."""
    out: dict[datetime, GridRow] = {}
    for g in rows:
        had = out.get(g.row_start)
        out[g.row_start] = g if had is None else GridRow(
            g.row_start, had.size + g.size, [a + b for a, b in zip(had.people, g.people, strict=True)])
    return out

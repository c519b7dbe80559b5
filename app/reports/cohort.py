"""The cohort report (DESIGN.md §5 Cohort), computed in PostgreSQL.

One query built from three pieces:

- `members`: one scan of the events named cohortEvent or returnEvent, grouped
  by person: t₀ (the first cohortEvent ever, kept when from ≤ t₀ < to), the
  start of the cohortPeriod holding it, and the person's returnEvent times;
- `returns`: for each member, the bucket indexes n with at least one returnEvent
  in [t₀ + n·B, t₀ + (n+1)·B), n < buckets (DISTINCT, so a person counts once
  per cell);
- the final grouping: row size and people per (row, n).

Python only fills the zero cells and the rates (rows × buckets values, never one
per event).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from ..errors import BadInput
from .periods import Period, bucket_seconds, period_end, sql_period_start, to_utc

MAX_BUCKETS = 120
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class CohortSpec:
    cohort_event: str
    return_event: str
    from_: datetime
    to: datetime
    cohort_period: Period = Period.WEEK
    bucket: Period = Period.WEEK
    buckets: int = 12

    def __post_init__(self) -> None:
        for field, name in (("cohortEvent", self.cohort_event), ("returnEvent", self.return_event)):
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
                raise BadInput(f"input.{field}", f"an event name is 1-{MAX_NAME_LENGTH} characters")
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "cohort_period", Period(self.cohort_period))
        object.__setattr__(self, "bucket", Period(self.bucket))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        if not isinstance(self.buckets, int) or not 1 <= self.buckets <= MAX_BUCKETS:
            raise BadInput("input.buckets", f"between 1 and {MAX_BUCKETS} buckets (got {self.buckets})")

    def cache_key(self) -> str:
        """The normalised input: equal for equal reports, whatever the offsets sent."""
        return orjson.dumps(
            ["cohort", self.cohort_event, self.return_event, self.from_.isoformat(), self.to.isoformat(),
             self.cohort_period.value, self.bucket.value, self.buckets]
        ).decode()


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


# ---------------------------------------------------------------- SQL pieces
# Parameters: $1 project, $2 cohortEvent, $3 returnEvent, $4 from, $5 to,
# $6 bucket length in seconds, $7 number of buckets.


def members_cte(cohort_period: Period) -> str:
    """members(person_id, t0, row_start, return_times): one pass over the events
    named cohortEvent or returnEvent, grouped by person: t₀ is the first
    cohortEvent ever; only people with from ≤ t₀ < to are kept."""
    return f"""
    per_person AS (
        SELECT person_id,
               min(ts) FILTER (WHERE name = $2) AS t0,
               array_agg(ts) FILTER (WHERE name = $3) AS return_times
        FROM events
        WHERE project_id = $1 AND (name = $2 OR name = $3)
        GROUP BY person_id
    ),
    members AS (
        SELECT person_id, t0, {sql_period_start("t0", cohort_period)} AS row_start, return_times
        FROM per_person
        WHERE t0 >= $4 AND t0 < $5
    )"""


RETURNS_CTE = """
    returns AS (
        SELECT DISTINCT m.row_start, m.person_id,
               floor(extract(epoch FROM r.ts - m.t0) / $6::bigint)::int AS n
        FROM members m, unnest(m.return_times) AS r(ts)
        WHERE r.ts >= m.t0 AND r.ts < m.t0 + ($6::bigint * $7::int) * interval '1 second'
    )"""

GRID_SELECT = """
    sizes AS (SELECT row_start, count(*) AS size FROM members GROUP BY row_start),
    cells AS (SELECT row_start, n, count(*) AS people FROM returns GROUP BY row_start, n)
    SELECT s.row_start, s.size, c.n, c.people
    FROM sizes s LEFT JOIN cells c USING (row_start)
    ORDER BY s.row_start, c.n"""


def cohort_sql(spec: CohortSpec) -> str:
    return "WITH" + ",".join([members_cte(spec.cohort_period), RETURNS_CTE, GRID_SELECT])


def cohort_params(project_id: uuid.UUID, spec: CohortSpec) -> list:
    return [project_id, spec.cohort_event, spec.return_event, spec.from_, spec.to,
            bucket_seconds(spec.bucket), spec.buckets]


def build_rows(records, spec: CohortSpec, computed_at: datetime) -> CohortResult:
    """Rows from (row_start, size, n, people) records, every cell filled."""
    grid: dict[datetime, tuple[int, dict[int, int]]] = {}
    for r in records:
        start = r["row_start"]
        if start not in grid:
            grid[start] = (r["size"], {})
        if r["n"] is not None:
            grid[start][1][r["n"]] = r["people"]
    b = timedelta(seconds=bucket_seconds(spec.bucket))
    rows = []
    for start in sorted(grid):
        size, people = grid[start]
        end = period_end(start, spec.cohort_period)
        cells = tuple(
            CohortCell(
                index=n,
                people=people.get(n, 0),
                rate=people.get(n, 0) / size,
                complete=end + (n + 1) * b <= computed_at,
            )
            for n in range(spec.buckets)
        )
        rows.append(CohortRow(start=to_utc(start), size=size, cells=cells))
    return CohortResult(rows=tuple(rows))


async def compute_cohort(conn, project_id: uuid.UUID, spec: CohortSpec, computed_at: datetime) -> CohortResult:
    """The cohort report; `conn` is a connection or a pool. `computed_at` decides
    which cells are complete."""
    if spec.from_ >= spec.to:
        return CohortResult(rows=())
    records = await conn.fetch(cohort_sql(spec), *cohort_params(project_id, spec))
    return build_rows(records, spec, to_utc(computed_at))

"""The cohort report (DESIGN.md §5 Cohort), computed in PostgreSQL.

One query, members first:

- `members`: every person's first cohortEvent ever (min(ts) per person, an
  index-only scan of events_name_person_ts: db/migrations/0005_reports.sql),
  kept when from ≤ t₀ < to, with the start of the cohortPeriod holding it
  (in UTC wall time: a timestamp);
- per member, their returnEvents with t₀ ≤ t < t₀ + buckets·B (one index range
  on the same index) folded as they are read into bit masks of the cells n
  with t₀ + n·B ≤ t < t₀ + (n+1)·B (width_bucket over the member's cell
  bounds t₀ + n·B: exact µs), so a member counts once per cell without a
  DISTINCT over (member, cell) rows;
- per row, its size and per cell the members whose mask has the cell's bit.

Python only adds the rates and complete flags (rows × buckets values, never one
per event).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from ..storage import cluster
from ..errors import BadInput
from ..storage.filters import Params
from .periods import Period, bucket_seconds, period_end, to_utc
from .population import Population, population_part
from .population import normalised as population_key
from .sql import Statement

MAX_BUCKETS = 120
MAX_NAME_LENGTH = 255
MODES = ("FIRST_TIME", "RECURRING")


@dataclass(frozen=True)
class CohortSpec:
    cohort_event: str
    return_event: str
    from_: datetime
    to: datetime
    cohort_period: Period = Period.WEEK
    bucket: Period = Period.WEEK
    buckets: int = 12
    mode: str = "FIRST_TIME"
    cumulative: bool = False
    people: Population | None = None

    def __post_init__(self) -> None:
        for field, name in (("cohortEvent", self.cohort_event), ("returnEvent", self.return_event)):
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
                raise BadInput(f"input.{field}", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            if "\x00" in name:  # no stored name can hold one; PostgreSQL would refuse it unnamed
                raise BadInput(f"input.{field}", "the NUL character is not allowed")
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "cohort_period", Period(self.cohort_period))
        object.__setattr__(self, "bucket", Period(self.bucket))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        if not isinstance(self.buckets, int) or not 1 <= self.buckets <= MAX_BUCKETS:
            raise BadInput("input.buckets", f"between 1 and {MAX_BUCKETS} buckets (got {self.buckets})")
        mode = getattr(self.mode, "value", self.mode)
        if mode not in MODES:
            raise BadInput("input.mode", f"FIRST_TIME or RECURRING (got {self.mode!r})")
        object.__setattr__(self, "mode", mode)
        if not isinstance(self.cumulative, bool):
            raise BadInput("input.cumulative", "true or false")
        if self.people is not None:
            if not isinstance(self.people, Population):
                raise BadInput("input.people", "not a people filter")
            if self.people.is_everyone:  # `people: {}`: everyone, the report without a filter
                object.__setattr__(self, "people", None)

    @property
    def has_options(self) -> bool:
        return self.mode != "FIRST_TIME" or self.cumulative or self.people is not None

    def cache_key(self) -> str:
        """The normalised input: equal for equal reports, whatever the offsets sent.
        The options only when given: without them the key is the one it always was."""
        key = ["cohort", self.cohort_event, self.return_event, self.from_.isoformat(), self.to.isoformat(),
               self.cohort_period.value, self.bucket.value, self.buckets]
        if self.has_options:
            key.append({"mode": self.mode, "cumulative": self.cumulative, "people": population_key(self.people)})
        return orjson.dumps(key).decode()


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
# $6 bucket length B in seconds, $7 number of buckets.


def row_start_sql(column: str, cohort_period: Period) -> str:
    """The start of the UTC period holding a timestamptz, as a timestamp of UTC
    wall time: the same instant as sql_period_start's, but `AT TIME ZONE 'UTC'`
    reads a fixed offset, where date_trunc(..., 'UTC') looks the zone up for
    every value (~0.25 µs: a millisecond over 6k members)."""
    # date_trunc's units are the periods' names: hour, day, week (ISO, from Monday), month
    return f"date_trunc('{cohort_period.value.lower()}', {column} AT TIME ZONE 'UTC')"


def _seconds(n: int) -> str:
    """n·B as an interval of µs only (no days: adding it to a timestamptz never
    depends on the session's time zone)."""
    return f"($6::bigint * {n}) * interval '1 second'"


def members_cte(cohort_period: Period, buckets: int, population: str | None = None) -> str:
    """members(person_id, t0, row_start, bounds): t₀ is the first cohortEvent
    ever (events after `to` cannot be the first of a member, so they are not
    read); only people with from ≤ t₀ < to (and in `population`, the name of
    a part of person ids, when given). `bounds` are the member's cell
    bounds t₀ + n·B, n = 1 … buckets − 1 (exact µs), so that each return event
    finds its cell by comparing timestamps. Not materialized: the members
    stream from their grouped index scan into the lookups (no tuple store)."""
    bounds = ", ".join(f"min(e.ts) + {_seconds(n)}" for n in range(1, buckets))
    return f"""
    members AS (
        SELECT e.person_id, min(e.ts) AS t0, {row_start_sql("min(e.ts)", cohort_period)} AS row_start,
               ARRAY[{bounds}]::timestamptz[] AS bounds
        FROM events e
        WHERE e.project_id = $1 AND e.name = $2 AND e.ts < $5{_in_population("e", population)}
        GROUP BY e.person_id
        HAVING min(e.ts) >= $4
    )"""


def recurring_members_cte(cohort_period: Period, buckets: int, population: str | None = None) -> str:
    """members for mode RECURRING: one per (person, cohortPeriod period in
    which they did cohortEvent within [from, to)), t₀ their first cohortEvent
    inside both (DESIGN.md §5, "Cohort: recurring and cumulative"). A person
    can be a member of several rows."""
    bounds = ", ".join(f"min(e.ts) + {_seconds(n)}" for n in range(1, buckets))
    row_start = row_start_sql("e.ts", cohort_period)
    return f"""
    members AS (
        SELECT e.person_id, min(e.ts) AS t0, {row_start} AS row_start,
               ARRAY[{bounds}]::timestamptz[] AS bounds
        FROM events e
        WHERE e.project_id = $1 AND e.name = $2 AND e.ts >= $4 AND e.ts < $5{_in_population("e", population)}
        GROUP BY e.person_id, {row_start}
    )"""


def _in_population(alias: str, population: str | None) -> str:
    return "" if population is None else f" AND {alias}.person_id IN (SELECT pp.id FROM {population} pp)"


# Cell n = the number of the member's bounds t₀ + n·B (n ≥ 1) that t has
# reached: timestamp comparisons, where t − t₀ made an interval per event (and
# compared intervals): ~35 ns less per return event.
CELL = "width_bucket(r.ts, m.bounds)"
MASK_BITS = 64  # cells per bigint mask


def _masks(buckets: int) -> list[str]:
    """Aggregates giving a member's cells as bigint bit masks m0, m1, …: bit
    n − 64j of mask j is set when the member has a return event in cell n.
    (A shift by 64 or more is not defined: each mask takes its own cells.)"""
    if buckets <= MASK_BITS:
        return [f"bit_or(1::bigint << {CELL}) AS m0"]
    out = []
    for j in range((buckets + MASK_BITS - 1) // MASK_BITS):
        lo = j * MASK_BITS
        out.append(f"bit_or(CASE WHEN {CELL} BETWEEN {lo} AND {lo + MASK_BITS - 1}"
                   f" THEN 1::bigint << ({CELL} - {lo}) ELSE 0 END) AS m{j}")
    return out


def grid_select(buckets: int) -> str:
    """Per member, their returnEvents with t₀ ≤ t < t₀ + buckets·B (one index
    range on events_name_person_ts, in person order) folded into cell bit masks
    as they are read — no (member, cell) rows to make distinct — and per row
    its size and, per cell, the members whose mask has it: one pass over the
    members."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE x.m{n // MASK_BITS} & (1::bigint << {n % MASK_BITS}) <> 0)" for n in range(buckets)
    )
    return f"""
    SELECT m.row_start, count(*) AS size, ARRAY[{counts}] AS people
    FROM members m
    CROSS JOIN LATERAL (
        SELECT {", ".join(_masks(buckets))}
        FROM events r
        WHERE r.project_id = $1 AND r.name = $3 AND r.person_id = m.person_id
          AND r.ts >= m.t0 AND r.ts < m.t0 + ($6::bigint * $7::int) * interval '1 second'
    ) AS x
    GROUP BY m.row_start
    ORDER BY m.row_start"""


def cumulative_grid_select(buckets: int) -> str:
    """grid_select for `cumulative`: cell n counts the members with a
    returnEvent at t ≥ t₀ + n·B, i.e. whose last returnEvent at or after t₀
    (one backward index probe per member) is in cell n or later; its cell is
    width_bucket over the member's bounds (≥ buckets − 1: the last cell)."""
    counts = ", ".join(f"count(*) FILTER (WHERE width_bucket(x.last, m.bounds) >= {n})" for n in range(buckets))
    # `span` (B · buckets, unread) keeps $6 and $7 in the statement: the
    # parameter list is the same for every cohort statement.
    return f"""
    SELECT m.row_start, count(*) AS size, ARRAY[{counts}] AS people, $6::bigint * $7::int AS span
    FROM members m
    CROSS JOIN LATERAL (
        SELECT max(r.ts) AS last
        FROM events r
        WHERE r.project_id = $1 AND r.name = $3 AND r.person_id = m.person_id AND r.ts >= m.t0
    ) AS x
    GROUP BY m.row_start
    ORDER BY m.row_start"""


def _base_params(project_id: uuid.UUID | None, spec: CohortSpec) -> list:
    return [project_id, spec.cohort_event, spec.return_event, spec.from_, spec.to, bucket_seconds(spec.bucket),
            spec.buckets]


def cohort_statement(project_id: uuid.UUID | None, spec: CohortSpec) -> tuple[str, list]:
    """The statement ($1 … $7 as above; the population's values after) and its
    parameters. Without options it is exactly the statement it always was."""
    q = Statement(Params(*_base_params(project_id, spec)))
    population = population_part(q, spec.people)
    members = recurring_members_cte if spec.mode == "RECURRING" else members_cte
    grid = cumulative_grid_select if spec.cumulative else grid_select
    head = "".join(f"\n{part.sql()}," for part in q.parts)
    return "WITH" + head + members(spec.cohort_period, spec.buckets, population) + grid(spec.buckets), q.params.values


def cohort_sql(spec: CohortSpec) -> str:
    return cohort_statement(None, spec)[0]


def cohort_params(project_id: uuid.UUID, spec: CohortSpec) -> list:
    return cohort_statement(project_id, spec)[1]


def build_rows(records, spec: CohortSpec, computed_at: datetime) -> CohortResult:
    """Rows from (row_start, size, people per cell) records."""
    grid: dict[datetime, tuple[int, dict[int, int]]] = {
        r["row_start"]: (r["size"], dict(enumerate(r["people"]))) for r in records
    }
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
    sql, params = cohort_statement(project_id, spec)
    records = await cluster.reads(conn).fetch(sql, *params)
    return build_rows(records, spec, to_utc(computed_at))

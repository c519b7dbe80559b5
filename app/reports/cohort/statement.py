"""The cohort report as one statement of named parts (app/reports/sql.py),
members first:

- `population` (only with a people filter): the persons who count;
- `members(person_id, t0, row_start, bounds)`: FIRST_TIME, every person's
  first cohortEvent ever (min(ts) per person, an index-only scan of
  events_name_person_ts: db/migrations/0005_reports.sql), kept when
  from ≤ t₀ < to; RECURRING, one member per (person, cohortPeriod period in
  which they did cohortEvent within [from, to)), t₀ their first cohortEvent
  inside both. `row_start` is the start of the cohortPeriod holding t₀ (in
  UTC wall time: a timestamp), `bounds` the member's cell bounds t₀ + n·B;
- the final SELECT (`grid_select`): per member, their returnEvents with
  t₀ ≤ t < t₀ + buckets·B (one index range on the same index) folded as they
  are read into bit masks of the cells n with t₀ + n·B ≤ t < t₀ + (n+1)·B
  (width_bucket over the member's bounds: exact µs), so a member counts once
  per cell without a DISTINCT over (member, cell) rows; per row, its size and
  per cell the members whose mask has the cell's bit. `cumulative_grid_select`
  instead reads each member's last returnEvent at or after t₀ (one backward
  index probe): cell n counts the members whose last one is in cell n or
  later.

The parameters: $1 project, then (`Slots`) cohortEvent, returnEvent, from,
to, the bucket length B in seconds and the number of buckets ($2 … $7), then
the population's values. One row kind comes out (assembly.py `GridRow`):
row_start, size, people per cell. `build_parts` cuts the members by ranges
of person id, a statement each: their rows add up (the assembly sums the
rows of one row_start).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ...storage.filters import Params
from ..periods import Period, bucket_seconds
from ..population import population_part
from ..sql import Statement, and_condition, person_id_ranges
from .spec import CohortSpec

# Cells per bigint mask.
MASK_BITS = 64


@dataclass(frozen=True)
class Slots:
    """The placeholders of the report's values, the same in every cohort
    statement (whatever parts it has)."""

    cohort_event: str
    return_event: str
    from_: str
    to: str
    bucket: str  # B, in seconds (bigint)
    buckets: str

    @classmethod
    def of(cls, q: Statement, spec: CohortSpec) -> Slots:
        return cls(q.param(spec.cohort_event), q.param(spec.return_event), q.param(spec.from_), q.param(spec.to),
                   q.param(bucket_seconds(spec.bucket)), q.param(spec.buckets))

    def times_b(self, n: int | str) -> str:
        """n·B as an interval of µs only (no days: adding it to a timestamptz
        never depends on the session's time zone)."""
        return f"({self.bucket}::bigint * {n}) * interval '1 second'"


def row_start_sql(column: str, cohort_period: Period) -> str:
    """The start of the UTC period holding a timestamptz, as a timestamp of UTC
    wall time: the same instant as sql_period_start's, but `AT TIME ZONE 'UTC'`
    reads a fixed offset, where date_trunc(..., 'UTC') looks the zone up for
    every value (~0.25 µs: a millisecond over 6k members)."""
    # date_trunc's units are the periods' names: hour, day, week (ISO, from Monday), month
    return f"date_trunc('{cohort_period.value.lower()}', {column} AT TIME ZONE 'UTC')"


def bounds_sql(s: Slots, t0: str, buckets: int) -> str:
    """The member's cell bounds t₀ + n·B, n = 1 … buckets − 1 (exact µs), so
    that each return event finds its cell by comparing timestamps."""
    return "ARRAY[" + ", ".join(f"{t0} + {s.times_b(n)}" for n in range(1, buckets)) + "]::timestamptz[]"


def _in_population(alias: str, population: str | None) -> str:
    return "" if population is None else f" AND {alias}.person_id IN (SELECT pp.id FROM {population} pp)"


def members_part(q: Statement, s: Slots, spec: CohortSpec, population: str | None, ids: str | None = None) -> str:
    """members, FIRST_TIME: t₀ is the first cohortEvent ever (events after
    `to` cannot be the first of a member, so they are not read); only people
    with from ≤ t₀ < to (and in `population`, when given). Not materialized
    (the planner's choice for a part read once): the members stream from their
    grouped index scan into the lookups (no tuple store). `ids`: only the
    persons of one range of ids (build_parts)."""
    return q.part("members", "\n".join([
        f"SELECT e.person_id, min(e.ts) AS t0, {row_start_sql('min(e.ts)', spec.cohort_period)} AS row_start,",
        f"       {bounds_sql(s, 'min(e.ts)', spec.buckets)} AS bounds",
        "FROM events e",
        f"WHERE e.project_id = $1 AND e.name = {s.cohort_event} AND e.ts < {s.to}{_in_population('e', population)}"
        f"{and_condition(ids)}",
        "GROUP BY e.person_id",
        f"HAVING min(e.ts) >= {s.from_}",
    ]))


def recurring_members_part(q: Statement, s: Slots, spec: CohortSpec, population: str | None,
                           ids: str | None = None) -> str:
    """members, RECURRING: one per (person, cohortPeriod period in which they
    did cohortEvent within [from, to)), t₀ their first cohortEvent inside
    both. A person can be a member of several rows."""
    row_start = row_start_sql("e.ts", spec.cohort_period)
    return q.part("members", "\n".join([
        f"SELECT e.person_id, min(e.ts) AS t0, {row_start} AS row_start,",
        f"       {bounds_sql(s, 'min(e.ts)', spec.buckets)} AS bounds",
        "FROM events e",
        f"WHERE e.project_id = $1 AND e.name = {s.cohort_event} AND e.ts >= {s.from_} AND e.ts < {s.to}"
        f"{_in_population('e', population)}{and_condition(ids)}",
        f"GROUP BY e.person_id, {row_start}",
    ]))


# Cell n = the number of the member's bounds t₀ + n·B (n ≥ 1) that t has
# reached: timestamp comparisons, where t − t₀ made an interval per event (and
# compared intervals): ~35 ns less per return event.
CELL = "width_bucket(r.ts, m.bounds)"


def masks_sql(buckets: int) -> list[str]:
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


def grid_select(s: Slots, members: str, buckets: int) -> str:
    """Per member, their returnEvents with t₀ ≤ t < t₀ + buckets·B (one index
    range on events_name_person_ts, in person order) folded into cell bit
    masks as they are read — no (member, cell) rows to make distinct — and
    per row its size and, per cell, the members whose mask has it: one pass
    over the members."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE x.m{n // MASK_BITS} & (1::bigint << {n % MASK_BITS}) <> 0)" for n in range(buckets)
    )
    return f"""SELECT m.row_start, count(*) AS size, ARRAY[{counts}] AS people
FROM {members} m
CROSS JOIN LATERAL (
    SELECT {", ".join(masks_sql(buckets))}
    FROM events r
    WHERE r.project_id = $1 AND r.name = {s.return_event} AND r.person_id = m.person_id
      AND r.ts >= m.t0 AND r.ts < m.t0 + {s.times_b(f"{s.buckets}::int")}
) AS x
GROUP BY m.row_start
ORDER BY m.row_start"""


def cumulative_grid_select(s: Slots, members: str, buckets: int) -> str:
    """grid_select for `cumulative`: cell n counts the members with a
    returnEvent at t ≥ t₀ + n·B, i.e. whose last returnEvent at or after t₀
    (one backward index probe per member) is in cell n or later; its cell is
    width_bucket over the member's bounds (≥ buckets − 1: the last cell)."""
    counts = ", ".join(f"count(*) FILTER (WHERE width_bucket(x.last, m.bounds) >= {n})" for n in range(buckets))
    # `span` (B · buckets, unread) keeps every slot in the statement: the
    # parameter list is the same for every cohort statement.
    return f"""SELECT m.row_start, count(*) AS size, ARRAY[{counts}] AS people, {s.bucket}::bigint * {s.buckets}::int AS span
FROM {members} m
CROSS JOIN LATERAL (
    SELECT max(r.ts) AS last
    FROM events r
    WHERE r.project_id = $1 AND r.name = {s.return_event} AND r.person_id = m.person_id AND r.ts >= m.t0
) AS x
GROUP BY m.row_start
ORDER BY m.row_start"""


def per_shard_select(grid: str) -> str:
    """A grid select (grid_select or cumulative_grid_select) for a Citus
    cluster distributed by person (docs/scaling.md): its per-row counts
    become per-member flags (a row per member, no aggregate over persons), so
    that members and their lateral probe, joined on person_id, run on every
    shard in parallel; the counts per row are summed over them, Citus summing
    each shard's partial sums on the coordinator. The same answer: a member's
    flag for cell n is 1 exactly when the member counts in the plain
    statement's count(*) FILTER for n."""
    head, _, rest = grid.partition("SELECT m.row_start, count(*) AS size, ARRAY[")
    counts, _, body = rest.partition("] AS people")
    assert not head and counts and body, "not a grid select"
    filters = [c.strip() for c in counts.split(", count(*) FILTER ")]
    conditions = [f.removeprefix("count(*) FILTER ").removeprefix("(WHERE ").removesuffix(")") for f in filters]
    extra, _, body = body.partition("\nFROM")  # (the cumulative one's unread `span`)
    body = body.split("\nGROUP BY m.row_start")[0]
    # (CASE, not cond::int: a member without return events has NULL masks,
    # and a sum over NULLs only would be NULL where the count is 0)
    flags = ", ".join(f"CASE WHEN {c} THEN 1 ELSE 0 END AS c{n}" for n, c in enumerate(conditions))
    sums = ", ".join(f"sum(c{n})::bigint" for n in range(len(conditions)))
    return (f"SELECT row_start, count(*) AS size, ARRAY[{sums}] AS people{extra}\n"
            f"FROM (SELECT m.row_start, {flags}\nFROM{body}) AS per_member\n"
            "GROUP BY row_start\nORDER BY row_start")


def build_per_shard(project_id: uuid.UUID, spec: CohortSpec) -> tuple[str, list[Any]]:
    """build for a Citus cluster: the statement whose per-member work runs on
    every shard (per_shard_select); a people filter's population inlined
    (population_part materialized=False: a semi-join with the co-located
    persons, pushed down with the rest)."""
    q = Statement(Params(project_id))
    s = Slots.of(q, spec)
    population = population_part(q, spec.people, materialized=False)
    members = (recurring_members_part if spec.recurring else members_part)(q, s, spec, population)
    grid = cumulative_grid_select if spec.cumulative else grid_select
    return q.select(per_shard_select(grid(s, members, spec.buckets)))


def build(project_id: uuid.UUID, spec: CohortSpec, ids: str | None = None) -> tuple[str, list[Any]]:
    """The statement and its parameters ($1 the project, the slots, the
    population's values). `ids`: only the members whose person id meets
    this condition (build_parts)."""
    q = Statement(Params(project_id))
    s = Slots.of(q, spec)
    population = population_part(q, spec.people)
    members = (recurring_members_part if spec.recurring else members_part)(q, s, spec, population, ids)
    grid = cumulative_grid_select if spec.cumulative else grid_select
    return q.select(grid(s, members, spec.buckets))


def build_parts(project_id: uuid.UUID, spec: CohortSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges),
    each build's statement over the members of its range: run side by side
    on connections of one snapshot (ReportService, ReportKind.build_parts),
    their rows together are build's with a row's size and cells split over
    the parts (a member, a person or a person's period, is in one range), and
    the assembly adds them up."""
    return [build(project_id, spec, ids) for ids in person_id_ranges(parts)]

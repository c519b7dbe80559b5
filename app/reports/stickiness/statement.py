"""The stickiness report as one statement of named parts:

- `population` (only with a people filter);
- `per_person`: each person's number n of distinct periods holding one of
  their matching events in [from, to) (a range of events_name_person_ts),
  one GROUP BY per quarter of the persons by id (run in parallel when the
  planner sees fit); in a part (build_parts), one GROUP BY over its range
  of ids, without the range's conditions when every event of the name is
  in the range (range_covered);
- the final SELECT: people per n.

The bucket's peopleList (`build_people`): the same parts, the persons with
n = periods, by id.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ...storage.filters import Params
from ..periods import Period, count_periods_overlapping, periods_overlapping
from ..population import population_part
from ..sql import Statement, person_id_ranges
from ..trends.statement import event_conditions, period_of
from .spec import StickinessPeopleSpec, StickinessSpec


# The persons split in four by id (ids are uniform: uuid5/uuid4): one GROUP BY
# per quarter, each an index range of events_name_person_ts, so the planner
# can run them side by side (Parallel Append: the leader and its two workers
# each take a quarter, the first done the fourth; a person is in one quarter,
# so each person's count is whole). Halves (the leader and one worker, the
# second worker idle; backend CPU of the leader at 1M events 160-167 -> 84-91
# ms) left the late-starting worker's half as the statement's tail; quarters
# balance it (docs/benchmarks.md §16.4).
_PARTS = 4

# A range of at most this many periods counts each person's periods with a
# bit mask in one bigint (below); a longer one with count(DISTINCT).
_MASK_PERIODS = 64


def period_bounds(from_: datetime, to: datetime, interval: Period) -> list[datetime] | None:
    """The starts of the 2nd..Kth of the K periods overlapping [from_, to)
    (periods.py: the UTC periods of period_of), when 1 <= K <= 64; else None.
    width_bucket(ts, bounds) is then the index (0..K-1) of the period holding
    a ts in [from_, to)."""
    if not 1 <= count_periods_overlapping(from_, to, interval) <= _MASK_PERIODS:
        return None
    return [start for start, _ in periods_overlapping(from_, to, interval)[1:]]


def periods_counted(q: Statement, spec: StickinessSpec, mask: bool = True) -> str:
    """The aggregate of a person's number of distinct periods. Up to 64
    periods: one bit per period OR-ed over the person's events (bit_or is
    an aggregate without a sort), its bits counted once per person; at 1M
    events (52 weeks) serial backend CPU 136-140 -> 123-127 ms, where
    count(DISTINCT) sorts each person's rows (docs/benchmarks.md §18.3).
    Two or four bigints (up to 128/256 periods), each a FILTER of its
    periods, cost as much as the sort or more (135, 155 ms): longer ranges
    keep count(DISTINCT). mask=False: count(DISTINCT) always (the per-shard
    statement: without a sort to need the index's order, the planner takes a
    sequential scan of every event and a hash by person instead: on plain
    PostgreSQL at 1M events 261 vs 163 ms of serial backend CPU; not
    measured on Citus)."""
    bounds = period_bounds(spec.from_, spec.to, spec.interval) if mask else None
    if bounds is None:
        return f"count(DISTINCT {period_of('e.ts', spec.interval)})"
    return f"bit_count(bit_or(1::bigint << {period_index(q, spec, bounds)})::bit(64))"


def period_index(q: Statement, spec: StickinessSpec, bounds: list[datetime]) -> str:
    """The index (0..K-1) of the period holding e.ts among the K periods
    overlapping [from, to). DAY and WEEK: days since the first period's start
    (UTC: timezone(interval '0', ts) is the UTC wall time, with no zone to
    look up), over 7 for weeks; HOUR and MONTH: width_bucket over the
    periods' starts (a binary search, ~6 comparisons for 52 weeks)."""
    if spec.interval in (Period.DAY, Period.WEEK):
        first = periods_overlapping(spec.from_, spec.to, spec.interval)[0][0].date()
        days = f"(timezone(interval '0', e.ts)::date - {q.param(first)}::date)"
        return days if spec.interval is Period.DAY else f"({days} / 7)"
    return f"width_bucket(e.ts, {q.param(bounds)}::timestamptz[])"


def per_person_part(q: Statement, spec: StickinessSpec, *, split: bool = True, ids: str | None = None) -> str:
    """per_person(person_id, n): each person's number of distinct active
    periods (periods_counted). The events come from events_name_person_ts in
    person order, so the count runs per person as they stream by (a hash of
    every (person, period) first: stickiness at 200k events 48-50 -> 25-41
    ms); one GROUP BY
    for each quarter of the persons (by id), which may run in parallel.
    split=False (Citus, where every shard is a process of its own already):
    one GROUP BY over every person, not materialized and its population
    inlined, so that each statement reading it is pushed down whole
    (build_per_shard). `ids` (build_parts): one GROUP BY over the persons of
    that range of ids.

    A part's GROUP BY (`ids`) is written twice, and one of the two runs,
    by range_covered: when every event of the name is in [from, to), the
    scan without the range's two conditions; else the scan with them.
    PostgreSQL 15 checks them on every index entry it reads (ts follows
    person_id in the index, so they do not bound the scan): leaving them
    out saves 12 % of the parts' CPU at 1M events; the gate costs ~1 ms per
    part when the range does not cover (docs/benchmarks.md §20.1). Each
    GROUP BY sits under its gate behind OFFSET 0, so the gate is one check
    above its ~12k rows, not a pass through every event (+1.8 ms per part
    in the latter). Not in the quarters of the one statement: the gates
    kept them from running in parallel (at 1M events 68-71 -> 88-96 ms)."""
    population = population_part(q, spec.people, materialized=split)
    from_, to = q.param(spec.from_), q.param(spec.to)
    counted = periods_counted(q, spec, mask=split)

    def grouped(*conditions: str) -> str:
        where = "\n  AND ".join(conditions)
        return f"SELECT e.person_id, {counted} AS n\nFROM events e\nWHERE {where}\nGROUP BY e.person_id"

    bounded = event_conditions(q, spec.event, spec.where, from_, to, population)
    if not split:
        return q.part("per_person", grouped(bounded), materialized=False)
    if ids is None:
        return q.part("per_person", "\nUNION ALL\n".join(
            grouped(bounded, quarter) for quarter in person_id_ranges(_PARTS)))
    unbounded = event_conditions(q, spec.event, spec.where, from_, to, population, bounded=False)
    covered = range_covered(q, spec, from_, to)
    return q.part("per_person", f"""SELECT * FROM ({grouped(unbounded, ids)}
OFFSET 0) all_in_range WHERE {covered}
UNION ALL
SELECT * FROM ({grouped(bounded, ids)}
OFFSET 0) in_range WHERE NOT {covered}""")


def range_covered(q: Statement, spec: StickinessSpec, from_: str, to: str) -> str:
    """Whether every event of the project named spec.event lies in [from_,
    to) (false when there is none): two probes of events_name_ts, its first
    and last entry of the name (an InitPlan, run once per gate). In the
    statement's snapshot, so no event can come in between; the events a
    filter or the population keeps are among them, in the range as well."""
    return (f"(SELECT coalesce(min(ts) >= {from_}::timestamptz AND max(ts) < {to}::timestamptz, false)\n"
            f"        FROM events WHERE project_id = $1 AND name = {q.param(spec.event)}::text)")


def _people_per_n(q: Statement, per_person: str) -> tuple[str, list[Any]]:
    """The report's rows (n, people) from `per_person` (build, build_parts, build_per_shard)."""
    return q.select(f"SELECT n, count(*) AS people FROM {per_person} GROUP BY n ORDER BY n")


def build(project_id: uuid.UUID, spec: StickinessSpec) -> tuple[str, list[Any]]:
    q = Statement(Params(project_id))
    return _people_per_n(q, per_person_part(q, spec))


def build_parts(project_id: uuid.UUID, spec: StickinessSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges),
    each build's rows (people per n) for the persons of its range: run side
    by side on connections of one snapshot (ReportService,
    ReportKind.build_parts); a person is in one range, so the assembly adds
    the parts' people per n up."""
    out = []
    for ids in person_id_ranges(parts):
        q = Statement(Params(project_id))
        out.append(_people_per_n(q, per_person_part(q, spec, ids=ids or "true")))
    return out


def build_people(project_id: uuid.UUID, page: StickinessPeopleSpec) -> tuple[str, list[Any]]:
    q = Statement(Params(project_id))
    per_person = per_person_part(q, page.report)
    people = q.part("people", f"SELECT person_id FROM {per_person} WHERE n = {q.param(page.periods)}")
    after = q.param(page.after)
    return q.select(
        f"""SELECT (SELECT count(*) FROM {people}) AS total,
       ARRAY(SELECT person_id FROM {people}
             WHERE {after}::uuid IS NULL OR person_id > {after}::uuid
             ORDER BY person_id LIMIT {q.param(page.first + 1)}) AS ids"""
    )


# ------------------------------------------------------------ per shard (Citus)


def build_per_shard(project_id: uuid.UUID, spec: StickinessSpec) -> tuple[str, list[Any]] | None:
    """build for a Citus cluster distributed by person (docs/scaling.md): each
    person's n grouped by person_id on their shard, the people per n counted
    there and the shards' counts added up on the coordinator; a people
    filter's population inlined (a semi-join with the persons of the same
    shard)."""
    q = Statement(Params(project_id))
    return _people_per_n(q, per_person_part(q, spec, split=False))


def build_people_per_shard(project_id: uuid.UUID, page: StickinessPeopleSpec) -> tuple[str, list[Any]] | None:
    """build_people for a Citus cluster: the total counted on every shard (the
    coordinator adds the counts) and the page taken on every shard (ORDER BY
    person_id LIMIT there, the shards' pages merged on the coordinator): no
    person's row but the page's leaves the shards."""
    q = Statement(Params(project_id))
    per_person = per_person_part(q, page.report, split=False)
    periods, after = q.param(page.periods), q.param(page.after)
    return q.select(
        f"""SELECT (SELECT count(*) FROM {per_person} WHERE n = {periods}) AS total,
       ARRAY(SELECT person_id FROM {per_person}
             WHERE n = {periods} AND ({after}::uuid IS NULL OR person_id > {after}::uuid)
             ORDER BY person_id LIMIT {q.param(page.first + 1)}) AS ids"""
    )

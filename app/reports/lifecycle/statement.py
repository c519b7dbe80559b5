"""The lifecycle report's statement (DESIGN.md §5 Lifecycle), from named parts.

- `population`: the people filter, when there is one (app/reports/population.py);
- `marked` (the people list): every matching event before `to` (history before `from`
  included) with its period p — `date_bin` of fixed hours from a Monday for
  HOUR, DAY and WEEK; for MONTH the month's start as UTC wall time
  (`date_trunc` of `ts AT TIME ZONE 'UTC'`, so that `p - interval '1 month'`
  is the calendar month before) — and, in one window over the person's events newest first
  (the order of the index events_name_person_ts: no sort), the periods of the
  events just older (`older`) and just newer (`newer`). The event whose older
  neighbour is in another period is the person's first in p, and that
  neighbour's period is their previous active period; the event whose newer
  neighbour is in another period is their last in p, and that neighbour's
  period is their next active period.
- the report's statement (`build`) needs no window: per person (a
  GroupAggregate over events_name_person_ts, in index order) the sorted
  array of their distinct active periods, unnested beside itself shifted by
  one, gives each active period p with the person's previous active period;
  per p (from the one before the first period of the report on) it counts
  NEW (nothing older, ever), RETURNING (the previous active period is the
  one just before p), RESURRECTING (else) and the people active in p. This
  runs once per half of the persons by id (`half_counts`), side by side, and
  `counts` adds the halves up. Python gives P's dormant as the people
  active in P−1 less the RETURNING of P (the people active in both), and
  adds the empty periods (app/reports/lifecycle/assembly.py). The rows add
  up over persons: `build_parts` gives the same rows per range of person
  ids, for the report service to run on connections side by side.
- the people list's SELECT pages the people of one (period, status) by
  person id, with the same conditions.

$1 is the project id.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ...storage.filters import filters_sql
from ..periods import Period, period_start
from ..population import population_part
from ..sql import Statement, person_id_ranges
from ..trends.statement import PERSON_NEWEST_FIRST
from .spec import LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus

# HOUR, DAY and WEEK are fixed lengths: date_bin from a Monday at 00:00 UTC,
# pure arithmetic on the timestamptz (no time zone, no calendar per row), and
# +/- a number of hours (never days: a day added to a timestamptz follows the
# session's TimeZone). MONTH is the calendar month of the UTC wall time.
_HOURS = {Period.HOUR: 1, Period.DAY: 24, Period.WEEK: 168}
_ORIGIN = "TIMESTAMPTZ '1999-12-27 00:00:00+00'"  # a Monday before any event (2000-01-01 on)


def _step(spec: LifecycleSpec) -> str:
    if spec.interval is Period.MONTH:
        return "interval '1 month'"
    return f"interval '{_HOURS[spec.interval]} hours'"


def _period_of(spec: LifecycleSpec, ts: str) -> str:
    """SQL: the start of the period holding `ts` (timestamptz; MONTH: UTC wall time)."""
    if spec.interval is Period.MONTH:
        return f"date_trunc('month', {ts} AT TIME ZONE 'UTC')"
    return f"date_bin({_step(spec)}, {ts}, {_ORIGIN})"


def _period_param(q: Statement, spec: LifecycleSpec, start: datetime) -> str:
    """A period start as a parameter of the type `_period_of` gives."""
    if spec.interval is Period.MONTH:
        return f"{q.param(start.replace(tzinfo=None))}::timestamp"
    return f"{q.param(start)}::timestamptz"


def _start_of(spec: LifecycleSpec, p: str) -> str:
    """SQL: a period start as timestamptz."""
    return f"{p} AT TIME ZONE 'UTC'" if spec.interval is Period.MONTH else p


def _event_conditions(q: Statement, spec: LifecycleSpec, population: str | None) -> list[str]:
    """The conditions on `events e` of a matching event before `to` (history included)."""
    cond = [
        "e.project_id = $1",
        f"e.name = {q.param(spec.event)}::text",
        f"e.ts < {q.param(spec.to)}::timestamptz",
    ]
    if spec.where:
        cond.append(filters_sql("e.properties", list(spec.where), q.params))
    if population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {population})")
    return cond


def marked_part(q: Statement, spec: LifecycleSpec, population: str | None) -> str:
    """marked(person_id, p, older, newer, first_in_p, last_in_p): see the module docstring."""
    cond = _event_conditions(q, spec, population)
    return q.part("marked", f"""
SELECT person_id, p, older, newer,
       older IS DISTINCT FROM p AS first_in_p,
       newer IS DISTINCT FROM p AS last_in_p
FROM (
    SELECT person_id, p,
           lead(p) OVER w AS older,
           lag(p) OVER w AS newer
    FROM (
        SELECT e.person_id, e.ts, {_period_of(spec, "e.ts")} AS p
        FROM events e
        WHERE {" AND ".join(cond)}
    ) x
    WINDOW w AS ({PERSON_NEWEST_FIRST})
) y""")


def _conditions(spec: LifecycleSpec) -> dict[LifecycleStatus, str]:
    """Over a `marked` row: the person has this status in p (DORMANT: in the period after p)."""
    step = _step(spec)
    return {
        LifecycleStatus.NEW: "first_in_p AND older IS NULL",
        LifecycleStatus.RETURNING: f"first_in_p AND older = p - {step}",
        LifecycleStatus.RESURRECTING: f"first_in_p AND older < p - {step}",
        LifecycleStatus.DORMANT: f"last_in_p AND (newer IS NULL OR newer > p + {step})",
    }


def _marked(project_id: uuid.UUID, spec: LifecycleSpec, materialized: bool = True) -> tuple[Statement, str]:
    q = Statement()
    q.param(project_id)
    return q, marked_part(q, spec, population_part(q, spec.people, materialized=materialized))


# The persons split in two by id (person_id_ranges), as the stickiness
# statement does: each half is an index range of events_name_person_ts and
# has no window, so PostgreSQL runs the two side by side (Parallel Append,
# one process each); a person is in one half, so each half's counts are
# whole for its persons and the halves add up.
_HALVES = 2


def half_counts(q: Statement, spec: LifecycleSpec, population: str | None, ids: str | None, first: str) -> str:
    """SELECT (p, new, returning, resurrecting, active) over the persons
    whose id meets `ids` (a condition of person_id_ranges; None: every
    person), one row per active period p >= `first`.

    Per person (a GroupAggregate over events_name_person_ts, no window, no
    hash): the array `a` of their distinct active periods, history included,
    newest first (the index's order: the sort finds it sorted). Unnested in
    lockstep with `a[2:]` (`older`: the next element, the period before;
    NULL for the last, the oldest), it gives each active period p with the
    person's previous active period: NEW (none), RETURNING (the one just
    before p), RESURRECTING (an earlier one). An older period is at most p
    minus one step (the array is distinct and sorted), so RESURRECTING is
    every other active person: the active less NEW and RETURNING, whose
    aggregates PostgreSQL computes once for both uses (one FILTER less per
    element than `older < p - step`: serial backend CPU at 1M events
    186-189 -> 182-183 ms, docs/benchmarks.md §18.3)."""
    cond = _event_conditions(q, spec, population) + ([] if ids is None else [ids])
    step = _step(spec)
    return f"""SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - {step}) AS returning,
       count(*) - count(*) FILTER (WHERE older IS NULL) - count(*) FILTER (WHERE older = p - {step})
         AS resurrecting,
       count(*) AS active
FROM (
    SELECT unnest(a) AS p, unnest(a[2:]) AS older
    FROM (
        SELECT array_agg(DISTINCT {_period_of(spec, "e.ts")} ORDER BY {_period_of(spec, "e.ts")} DESC) AS a
        FROM events e
        WHERE {" AND ".join(cond)}
        GROUP BY e.person_id
    ) s
) u
WHERE p >= {first}
GROUP BY p"""


def build(project_id: uuid.UUID, spec: LifecycleSpec) -> tuple[str, list[Any]]:
    """Rows (start, new, returning, resurrecting, active), one per active
    period from the one before the report's first period on: each person's
    status in each of their active periods (`half_counts`), the two halves
    added up in `counts`. The assembly gives P's dormant as the people active
    in the period before P less those active in both, which are P's
    RETURNING: active(P - 1) - returning(P).

    The rows are additive over persons: `build_parts`' statements give rows
    of the same shape for their persons, and the assembly adds up the rows of
    a period (one here).

    At 1M events (bench.statements' lifecycle) this replaced one window over
    every event (lead newest first): the statement 234 -> 147 ms, its whole
    CPU 235 -> 185 ms (docs/benchmarks.md §3 "Lifecycle without the
    window")."""
    return _build(project_id, spec, per_shard=False)


def build_parts(project_id: uuid.UUID, spec: LifecycleSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges),
    each giving build's rows for the persons of its range: run side by side
    on connections of one snapshot (ReportService, ReportKind.build_parts),
    their rows together are build's, a period's counts split over the parts
    (a person is in one range: their statuses are whole in it)."""
    out = []
    for ids in person_id_ranges(parts):
        q = Statement()
        q.param(project_id)
        population = population_part(q, spec.people)
        out.append(q.select(f"SELECT {_start_of(spec, 'h.p')} AS start, h.new, h.returning, h.resurrecting, h.active\n"
                            f"FROM (\n{half_counts(q, spec, population, ids, _first(q, spec))}\n) h"))
    return out


def _first(q: Statement, spec: LifecycleSpec) -> str:
    """SQL: the first period counted, the one before the report's first."""
    return f"{_period_param(q, spec, period_start(spec.from_, spec.interval))} - {_step(spec)}"


def _build(project_id: uuid.UUID, spec: LifecycleSpec, *, per_shard: bool) -> tuple[str, list[Any]]:
    """build's statement; per_shard (build_per_shard): no halves, the
    population inlined, `counts` materialized (one distributed subplan)."""
    q = Statement()
    q.param(project_id)
    population = population_part(q, spec.people, materialized=not per_shard)
    first = _first(q, spec)
    parts = "\nUNION ALL\n".join(half_counts(q, spec, population, ids, first)
                                 for ids in person_id_ranges(1 if per_shard else _HALVES))
    counts = q.part("counts", f"""
SELECT h.p, sum(h.new) AS new, sum(h.returning) AS returning, sum(h.resurrecting) AS resurrecting,
       sum(h.active) AS active
FROM (
{parts}
) h
GROUP BY h.p""", materialized=True if per_shard else None)
    return q.select(f"SELECT {_start_of(spec, 'c.p')} AS start, c.new, c.returning, c.resurrecting, c.active\n"
                    f"FROM {counts} c")


# ------------------------------------------------------------ per shard (Citus)


def build_per_shard(project_id: uuid.UUID, spec: LifecycleSpec) -> tuple[str, list[Any]] | None:
    """build for a Citus cluster distributed by person (docs/scaling.md): no
    halves (every shard is a process of its own); `counts` is one distributed
    subplan — each person's active periods grouped by person_id on their
    shard, counted per period there, the shards' counts added up on the
    coordinator — whose few rows (one per period) the final SELECT joins
    there. A people filter's population is inlined (a semi-join with the
    persons of the same shard)."""
    return _build(project_id, spec, per_shard=True)


def build_people_per_shard(project_id: uuid.UUID, spec: LifecyclePeopleSpec) -> tuple[str, list[Any]] | None:
    """build_people for a Citus cluster: the statement as it is (`marked`'s
    window is partitioned by person_id, so Citus runs it and the page's ORDER
    BY person_id LIMIT on every shard and merges the shards' pages), a people
    filter's population inlined."""
    return build_people(project_id, spec, materialized=False)


def build_people(project_id: uuid.UUID, spec: LifecyclePeopleSpec, *,
                 materialized: bool = True) -> tuple[str, list[Any]]:
    """Rows (person_id) of one page (first + 1 rows: the extra one says there
    is a next page). materialized: the population's part's."""
    q, marked = _marked(project_id, spec.report, materialized)
    period = _period_param(q, spec.report, spec.start)
    if spec.status is LifecycleStatus.DORMANT:  # active in the period before, not in this one
        period = f"{period} - {_step(spec.report)}"
    cond = [f"p = {period}", _conditions(spec.report)[spec.status]]
    if spec.after is not None:
        cond.append(f"person_id > {q.param(spec.after)}::uuid")
    return q.select(f"""
SELECT person_id FROM {marked}
WHERE {" AND ".join(cond)}
ORDER BY person_id
LIMIT {q.param(spec.first + 1)}""")

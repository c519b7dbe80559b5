"""The lifecycle report's statement (DESIGN.md §5 Lifecycle), from named parts.

- `population`: the people filter, when there is one (app/reports/population.py);
- `active(person_id, p)`: each person's periods holding a matching event
  before `to` (history before `from` included), p the period's start as UTC
  wall time (`date_trunc` of `ts AT TIME ZONE 'UTC'`, a fixed offset, so that
  `p - interval '1 month'` is the calendar month before, with no time zone
  rules per row);
- `marked`: each active period with the person's previous and next active
  periods (lag/lead over the person's periods in order);
- `statuses(period, person_id, status)`: for each period of the report
  (first ≤ period ≤ last), a person active in it is NEW when it is their first
  active period (nothing matching before it, ever), RETURNING when the
  previous active period is the period just before, else RESURRECTING; a
  person active in a period and not in the next is DORMANT in the next.

The report's final SELECT counts statuses per period (Python adds the empty
periods); the people list's SELECT pages one (period, status) by person id.
$1 is the project id.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from ...storage.filters import filters_sql
from ..periods import Period, period_start
from ..population import population_part
from ..sql import Statement
from .spec import LifecyclePeopleSpec, LifecycleSpec

_UNIT = {Period.HOUR: "hour", Period.DAY: "day", Period.WEEK: "week", Period.MONTH: "month"}
_STEP = {Period.HOUR: "1 hour", Period.DAY: "1 day", Period.WEEK: "7 days", Period.MONTH: "1 month"}


def active_part(q: Statement, spec: LifecycleSpec, population: str | None) -> str:
    """active(person_id, p): the periods in which each person did the event
    (with `where`) before `to`."""
    cond = [
        "e.project_id = $1",
        f"e.name = {q.param(spec.event)}::text",
        f"e.ts < {q.param(spec.to)}::timestamptz",
    ]
    if spec.where:
        cond.append(filters_sql("e.properties", list(spec.where), q.params))
    if population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {population})")
    return q.part("active", f"""
SELECT e.person_id, date_trunc('{_UNIT[spec.interval]}', e.ts AT TIME ZONE 'UTC') AS p
FROM events e
WHERE {" AND ".join(cond)}
GROUP BY 1, 2""")


def marked_part(q: Statement, active: str) -> str:
    return q.part("marked", f"""
SELECT person_id, p,
       lag(p) OVER w AS prev,
       lead(p) OVER w AS next
FROM {active}
WINDOW w AS (PARTITION BY person_id ORDER BY p)""")


def statuses_part(q: Statement, spec: LifecycleSpec, marked: str) -> str:
    """statuses(period, person_id, status) over the report's periods: each
    active period gives the person's status in it and, when the next period
    is not active, DORMANT in the next (one pass over `marked`, two values
    per row: no second scan, no union to sort)."""
    step = f"interval '{_STEP[spec.interval]}'"
    if spec.to <= spec.from_:  # an empty range: no period, nobody
        within = "FALSE"
    else:
        first = period_start(spec.from_, spec.interval).replace(tzinfo=None)
        last = period_start(spec.to - timedelta(microseconds=1), spec.interval).replace(tzinfo=None)
        within = f"s.period BETWEEN {q.param(first)}::timestamp AND {q.param(last)}::timestamp"
    return q.part("statuses", f"""
SELECT s.period, m.person_id, s.status
FROM {marked} m
CROSS JOIN LATERAL (VALUES
    (m.p, CASE WHEN m.prev IS NULL THEN 'NEW'
               WHEN m.prev = m.p - {step} THEN 'RETURNING'
               ELSE 'RESURRECTING' END),
    (m.p + {step}, CASE WHEN m.next IS NULL OR m.next > m.p + {step} THEN 'DORMANT' END)
) AS s(period, status)
WHERE s.status IS NOT NULL AND {within}""")


def _statuses(project_id: uuid.UUID, spec: LifecycleSpec) -> tuple[Statement, str]:
    q = Statement()
    q.param(project_id)
    population = population_part(q, spec.people)
    active = active_part(q, spec, population)
    marked = marked_part(q, active)
    return q, statuses_part(q, spec, marked)


def build(project_id: uuid.UUID, spec: LifecycleSpec) -> tuple[str, list[Any]]:
    """Rows (start, new, returning, resurrecting, dormant), one per period with anyone."""
    q, statuses = _statuses(project_id, spec)
    return q.select(f"""
SELECT period AT TIME ZONE 'UTC' AS start,
       count(*) FILTER (WHERE status = 'NEW') AS new,
       count(*) FILTER (WHERE status = 'RETURNING') AS returning,
       count(*) FILTER (WHERE status = 'RESURRECTING') AS resurrecting,
       count(*) FILTER (WHERE status = 'DORMANT') AS dormant
FROM {statuses}
GROUP BY period
ORDER BY period""")


def build_people(project_id: uuid.UUID, spec: LifecyclePeopleSpec) -> tuple[str, list[Any]]:
    """Rows (person_id) of one page (first + 1 rows: the extra one says there is a next page)."""
    q, statuses = _statuses(project_id, spec.report)
    period = q.param(spec.start.replace(tzinfo=None))
    status = q.param(spec.status.value)
    cond = [f"period = {period}::timestamp", f"status = {status}::text"]
    if spec.after is not None:
        cond.append(f"person_id > {q.param(spec.after)}::uuid")
    return q.select(f"""
SELECT person_id FROM {statuses}
WHERE {" AND ".join(cond)}
ORDER BY person_id
LIMIT {q.param(spec.first + 1)}""")

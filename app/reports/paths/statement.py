"""The paths report's statement (DESIGN.md §5 Paths), from named parts.

- `population`: the people filter, when there is one;
- `anchors(person_id, t0)`: each person's first anchor event (startEvent or
  endEvent) in [from, to): an index-only scan of events_name_person_ts, not
  materialized (the planner hashes these few rows and probes with the events);
- `walk(person_id, ts, name)`: the person's events in range on the path's side
  of the anchor, the anchor included: in order (ts, name), those at or after
  (t0, anchor) with startEvent, at or before it with endEvent;
- `steps(person_id, step, name)`: the walk read away from the anchor (forwards
  from a start, backwards from an end) in (ts, name) order, names compared
  byte-wise (COLLATE "C", as the order of every name in the report); a row
  whose name differs from the one before (lag, first window) begins a step
  (consecutive events with the same name count as one); only those rows are
  numbered (row_number, second window, stopped past depth + 1): the anchor
  is step 0, then 1..depth (negated towards an end);
- `kept(step, name)`: at each step the `limit` names with the most people
  (ties: name ascending);
- `folded(person_id, step, name)`: each person's steps with the names outside
  `kept` as NULL (the folded node).

The report's final SELECT gives the nodes (people per step and folded name)
and the links (people per pair of consecutive steps, in time order: the lower
step is `fromStep`); Python orders them. The people list's SELECT pages one
node's people by person id. $1 is the project id.
"""
from __future__ import annotations

import uuid
from typing import Any

from ..population import population_part
from ..sql import Statement
from .spec import PathsPeopleSpec, PathsSpec


def anchors_part(q: Statement, population: str | None, anchor: str, from_: str, to: str) -> str:
    """`anchor`, `from_`, `to`: the placeholders of the anchor's name and the range."""
    cond = [
        "e.project_id = $1", f"e.name = {anchor}::text",
        f"e.ts >= {from_}::timestamptz", f"e.ts < {to}::timestamptz",
    ]
    if population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {population})")
    return q.part("anchors", f"""
SELECT e.person_id, min(e.ts) AS t0
FROM events e
WHERE {" AND ".join(cond)}
GROUP BY e.person_id""")


def walk_part(q: Statement, spec: PathsSpec, anchors: str, anchor: str, from_: str, to: str) -> str:
    if spec.forward:
        side = f'(e.ts > a.t0 OR (e.ts = a.t0 AND e.name COLLATE "C" >= {anchor}::text))'
    else:
        side = f'(e.ts < a.t0 OR (e.ts = a.t0 AND e.name COLLATE "C" <= {anchor}::text))'
    return q.part("walk", f"""
SELECT e.person_id, e.ts, e.name
FROM {anchors} a
JOIN events e ON e.project_id = $1 AND e.person_id = a.person_id
WHERE e.ts >= {from_}::timestamptz AND e.ts < {to}::timestamptz
  AND {side}""")


def steps_part(q: Statement, spec: PathsSpec, walk: str) -> str:
    how = "" if spec.forward else " DESC"
    sign = "" if spec.forward else "-"
    order = f'ORDER BY ts{how}, name COLLATE "C"{how}'
    # The first window marks the rows whose name differs from the row before
    # (a step begins); the second numbers only those rows.
    return q.part("steps", f"""
SELECT person_id, {sign}(n - 1) AS step, name
FROM (
    SELECT person_id, name, row_number() OVER (PARTITION BY person_id {order}) AS n
    FROM (
        SELECT person_id, ts, name, name IS DISTINCT FROM lag(name) OVER (PARTITION BY person_id {order}) AS starts
        FROM {walk}
    ) c
    WHERE starts
) x
WHERE n <= {q.param(spec.depth + 1)}""")


def kept_part(q: Statement, spec: PathsSpec, steps: str) -> str:
    return q.part("kept", f"""
SELECT step, name
FROM (
    SELECT step, name,
           row_number() OVER (PARTITION BY step ORDER BY count(*) DESC, name COLLATE "C") AS rank
    FROM {steps}
    GROUP BY step, name
) r
WHERE rank <= {q.param(spec.limit)}""")


def folded_part(q: Statement, steps: str, kept: str) -> str:
    return q.part("folded", f"""
SELECT s.person_id, s.step, k.name
FROM {steps} s
LEFT JOIN {kept} k ON k.step = s.step AND k.name = s.name""", materialized=True)


def _folded(project_id: uuid.UUID, spec: PathsSpec) -> tuple[Statement, str]:
    q = Statement()
    q.param(project_id)
    anchor, from_, to = q.param(spec.anchor), q.param(spec.from_), q.param(spec.to)
    anchors = anchors_part(q, population_part(q, spec.people), anchor, from_, to)
    walk = walk_part(q, spec, anchors, anchor, from_, to)
    steps = steps_part(q, spec, walk)
    kept = kept_part(q, spec, steps)
    return q, folded_part(q, steps, kept)


def build(project_id: uuid.UUID, spec: PathsSpec) -> tuple[str, list[Any]]:
    """Rows (kind 'node' | 'link', step, source, target, people)."""
    q, folded = _folded(project_id, spec)
    return q.select(f"""
SELECT 'node' AS kind, step, name AS source, NULL::text AS target, count(*) AS people
FROM {folded}
GROUP BY step, name
UNION ALL
SELECT 'link', a.step, a.name, b.name, count(*)
FROM {folded} a
JOIN {folded} b ON b.person_id = a.person_id AND b.step = a.step + 1
GROUP BY a.step, a.name, b.name""")


def build_people(project_id: uuid.UUID, spec: PathsPeopleSpec) -> tuple[str, list[Any]]:
    """Rows (person_id) of one page (first + 1 rows: the extra one says there is a next page)."""
    q, folded = _folded(project_id, spec.report)
    cond = [f"step = {q.param(spec.step)}::int", f"name IS NOT DISTINCT FROM {q.param(spec.event)}::text"]
    if spec.after is not None:
        cond.append(f"person_id > {q.param(spec.after)}::uuid")
    return q.select(f"""
SELECT person_id FROM {folded}
WHERE {" AND ".join(cond)}
ORDER BY person_id
LIMIT {q.param(spec.first + 1)}""")

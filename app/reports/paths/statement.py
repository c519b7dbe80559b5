"""The paths report's statement (DESIGN.md §5 Paths), from named parts.

- `population`: the people filter, when there is one;
- `anchors(person_id, t0)`: each person's first anchor event (startEvent or
  endEvent) in [from, to): an index-only scan of events_name_person_ts, in
  person order;
- `marked(person_id, ts, name, t0, starts)`: the anchored people's events in
  [from, to), read in (person, ts, name) order from events_person_ts
  (project, person, ts, name COLLATE "C"): an index-only scan merge-joined
  with the anchors, no sort; one window (lag) marks the rows whose name
  differs from the row before (a step begins: consecutive events with the
  same name count as one), names compared byte-wise (COLLATE "C", as the
  order of every name in the report). With startEvent the events before the
  anchor are read too, so that the join has no other condition than the
  person (the anchor is the person's first event of its name in range, so
  the row before it has another name and the anchor begins a step whatever
  came before); with endEvent only those at or before (t0, anchor) are read
  (the rest can be most of a person's events: a condition of the join);
- `steps(person_id, step, name, nxt)`: the rows that begin a step on the
  path's side of (t0, anchor), the anchor included (at or after it with
  startEvent, at or before it with endEvent), numbered by a second window in
  time order: from a start, step = number - 1, stopped past depth (the
  row_number's run condition); towards an end, step = number - the person's
  count (the anchor is 0), from -depth. `nxt` is the name of the person's next
  step in time (lead), when that step is in the report (a link);
- `counted(step, name, nxt, people)`: people per step, name and next name:
  a few hundred rows at most, from which everything else is added up (a
  person has one name per step);
- `kept(step, name)`: at each step the `limit` names with the most people
  (ties: name ascending).

The report's final SELECT gives the nodes (people per step and folded name:
names outside `kept` as NULL) and the links (people per pair of consecutive
steps, in time order: the lower step is `fromStep`), both added up from
`counted`; Python orders them. The people list's SELECT pages one node's
people by person id from `steps`. $1 is the project id.
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


def marked_part(q: Statement, spec: PathsSpec, anchors: str, anchor: str, from_: str, to: str) -> str:
    cond = ["e.project_id = $1", f"e.ts >= {from_}::timestamptz", f"e.ts < {to}::timestamptz"]
    if not spec.forward:
        # The events after the anchor are no part of a path to it.
        cond.append(f'(e.ts < a.t0 OR (e.ts = a.t0 AND e.name COLLATE "C" <= {anchor}::text))')
    return q.part("marked", f"""
SELECT e.person_id, e.ts, e.name COLLATE "C" AS name, a.t0,
       e.name IS DISTINCT FROM lag(e.name) OVER w AS starts
FROM events e
JOIN {anchors} a ON a.person_id = e.person_id
WHERE {" AND ".join(cond)}
WINDOW w AS (PARTITION BY e.person_id ORDER BY e.ts, e.name COLLATE "C")""")


def steps_part(q: Statement, spec: PathsSpec, marked: str, anchor: str, materialized: bool | None = None) -> str:
    window = "WINDOW w AS (PARTITION BY person_id ORDER BY ts, name)"
    if spec.forward:
        last = q.param(spec.depth + 1)
        return q.part("steps", f"""
SELECT person_id, n - 1 AS step, name, CASE WHEN n < {last} THEN nxt END AS nxt
FROM (
    SELECT person_id, name, row_number() OVER w AS n, lead(name) OVER w AS nxt
    FROM {marked}
    WHERE starts AND (ts > t0 OR (ts = t0 AND name >= {anchor}::text))
    {window}
) s
WHERE n <= {last}""", materialized=materialized)
    return q.part("steps", f"""
SELECT person_id, step, name, nxt
FROM (
    SELECT person_id, name, row_number() OVER w - count(*) OVER (PARTITION BY person_id) AS step,
           lead(name) OVER w AS nxt
    FROM {marked}
    WHERE starts
    {window}
) s
WHERE step >= {q.param(-spec.depth)}""", materialized=materialized)


def counted_part(q: Statement, steps: str) -> str:
    return q.part("counted", f"""
SELECT step, name, nxt, count(*) AS people
FROM {steps}
GROUP BY step, name, nxt""", materialized=True)


def kept_part(q: Statement, spec: PathsSpec, counted: str) -> str:
    return q.part("kept", f"""
SELECT step, name
FROM (
    SELECT step, name, row_number() OVER (PARTITION BY step ORDER BY sum(people) DESC, name) AS rank
    FROM {counted}
    GROUP BY step, name
) r
WHERE rank <= {q.param(spec.limit)}""")


def _parts(project_id: uuid.UUID, spec: PathsSpec, per_shard: bool = False) -> tuple[Statement, str, str, str]:
    """The statement so far, its `steps`, `counted` and `kept` parts.

    per_shard (Citus): `steps` is inlined into each reader (NOT MATERIALIZED):
    read twice by the people's page, Citus would otherwise pull every
    person's steps to the coordinator; inlined, the page's people are found
    on every shard (each shard's first page, merged)."""
    q = Statement()
    q.param(project_id)
    anchor, from_, to = q.param(spec.anchor), q.param(spec.from_), q.param(spec.to)
    anchors = anchors_part(q, population_part(q, spec.people), anchor, from_, to)
    steps = steps_part(q, spec, marked_part(q, spec, anchors, anchor, from_, to), anchor,
                       materialized=False if per_shard else None)
    counted = counted_part(q, steps)
    return q, steps, counted, kept_part(q, spec, counted)


def build(project_id: uuid.UUID, spec: PathsSpec) -> tuple[str, list[Any]]:
    """Rows (kind 'node' | 'link', step, source, target, people)."""
    q, _, counted, kept = _parts(project_id, spec)
    return q.select(f"""
SELECT 'node' AS kind, c.step, k.name AS source, NULL::text AS target, sum(c.people)::bigint AS people
FROM {counted} c
LEFT JOIN {kept} k ON k.step = c.step AND k.name = c.name
GROUP BY c.step, k.name
UNION ALL
SELECT 'link', c.step, k.name, t.name, sum(c.people)::bigint
FROM {counted} c
LEFT JOIN {kept} k ON k.step = c.step AND k.name = c.name
LEFT JOIN {kept} t ON t.step = c.step + 1 AND t.name = c.nxt
WHERE c.nxt IS NOT NULL
GROUP BY c.step, k.name, t.name""")


def build_per_shard(project_id: uuid.UUID, spec: PathsSpec) -> tuple[str, list[Any]]:
    """build for a Citus cluster distributed by person (docs/scaling.md): the
    same statement. Its per-person parts (anchors, marked, steps: joins and
    windows by person) and `counted`, grouped by step and names, run on every
    shard; the coordinator adds up the shards' counts (a few hundred rows)
    and ranks the names."""
    return build(project_id, spec)


def build_people_per_shard(project_id: uuid.UUID, spec: PathsPeopleSpec) -> tuple[str, list[Any]]:
    """build_people for a Citus cluster (`steps` inlined: see _parts)."""
    return build_people(project_id, spec, per_shard=True)


def build_people(project_id: uuid.UUID, spec: PathsPeopleSpec, per_shard: bool = False) -> tuple[str, list[Any]]:
    """Rows (person_id) of one page (first + 1 rows: the extra one says there is a next page)."""
    q, steps, _, kept = _parts(project_id, spec.report, per_shard)
    step = q.param(spec.step)
    # A name's node, or the folded node (event None): the names outside `kept`.
    in_kept = f"EXISTS (SELECT 1 FROM {kept} k WHERE k.step = s.step AND k.name = s.name)"
    if spec.event is not None:
        node = f"s.name = {q.param(spec.event)}::text AND {in_kept}"
    else:
        node = f"NOT {in_kept}"
    cond = [f"s.step = {step}::int", node]
    if spec.after is not None:
        cond.append(f"s.person_id > {q.param(spec.after)}::uuid")
    return q.select(f"""
SELECT s.person_id FROM {steps} s
WHERE {" AND ".join(cond)}
ORDER BY s.person_id
LIMIT {q.param(spec.first + 1)}""")

"""The paths report's statement (DESIGN.md §5 Paths), from named parts.

No window: per person, arrays (so that PostgreSQL 15 can run parts of the
persons side by side, below).

- `side_sql(person_id, p, pts)`: each anchored person's event names in
  [from, to) as one array in (ts, name) order, and their times beside them
  (`pts`), cut at the anchor: from it to the end with startEvent, from the
  start to it with endEvent. The events come from an index-only scan of
  events_person_ts (project, person, ts, name COLLATE "C") in its order,
  through a sorted subquery aggregated per person by a GroupAggregate
  (array_agg over a sorted subquery with no join at the aggregate's level:
  PostgreSQL feeds the rows to the aggregate in the subquery's order).
  `array_position` finds the anchor: the person's first event of its name in
  (ts, name) order; persons without it in range have none and are dropped
  here (HAVING). Names are compared byte-wise (COLLATE "C"), as the order of
  every name in the report;
- `path_sql(person_id, path)`: `p` unnested beside itself shifted by one
  (target-list `unnest`s in lockstep, with `pts`) gives each event with the
  next one's name; an event whose next one has another name (or is the
  last) ends a run of equal names, one step (consecutive events with the
  same name count as one). The anchor is the first of its name, so it
  begins its run: with startEvent the runs of `p` are the steps from 0 on;
  with endEvent the anchor is alone in its run, the last of `p`. The run
  ends, ordered by (ts, name) (ascending from a start, descending towards an
  end; two run ends never share both: the events between them would all
  have that name), are aggregated again per person into `path`: the names
  of steps 0, ±1, ..., ±depth. The order is explicit (an ORDER BY in the
  subquery under the aggregate, not the unnest's), and the times rather than
  a generated ordinal give it: `unnest` is estimated at 10 rows a call where
  `generate_series` is estimated at 1,000, which made a day's report look
  like a million rows to the planner;
- `steps_sql(..., step, name, nxt)`: a `path` expanded into its steps (from
  a start 0..depth, towards an end 0..-depth) with `nxt`, the name of the
  next step in time when that step is in the report (a link): from a start
  the next element, towards an end the one before;
- `counted(step, name, nxt, people)`: people per step, name and next name, a
  few hundred rows at most, from which everything else is added up (a
  person has one name per step). People are first counted per distinct
  `path` (far fewer than people), in each part of the persons by id
  (`PARTS`, as the stickiness and lifecycle halves): with no window under
  them, PostgreSQL 15 runs the parts as a Parallel Append (one process
  each); a person is in one part, so the parts add up;
- `kept(step, name)`: at each step the `limit` names with the most people
  (ties: name ascending).

The report's final SELECT gives the nodes (people per step and folded name:
names outside `kept` as NULL) and the links (people per pair of consecutive
steps, in time order: the lower step is `fromStep`), both added up from
`counted`; Python orders them. The people list's SELECT pages one node's
people by person id from `steps` over all persons (one page: no parts).
$1 is the project id.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..population import population_part
from ..sql import Statement, person_id_ranges
from .spec import PathsPeopleSpec, PathsSpec

# The persons split in PARTS ranges of ids of equal size (person_id_ranges):
# two, one per core of a small server.
PARTS = 2


@dataclass(frozen=True)
class _Input:
    """The placeholders of the statement's inputs, made once, shared by the parts."""

    anchor: str
    from_: str
    to: str
    depth: str
    population: str | None


def _input(q: Statement, spec: PathsSpec) -> _Input:
    anchor, from_, to = q.param(spec.anchor), q.param(spec.from_), q.param(spec.to)
    population = population_part(q, spec.people)
    return _Input(anchor, from_, to, q.param(spec.depth), population)


def _indent(sql: str, n: int) -> str:
    return "\n".join(" " * n + line if line else line for line in sql.splitlines())


def side_sql(spec: PathsSpec, inp: _Input, part: str | None) -> str:
    """SELECT (person_id, p, pts); `part` an extra condition on e.person_id."""
    cond = ["e.project_id = $1", f"e.ts >= {inp.from_}::timestamptz", f"e.ts < {inp.to}::timestamptz"]
    if inp.population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {inp.population})")
    if part is not None:
        cond.append(part)
    at = f"array_position(array_agg(o.name), {inp.anchor}::text)"
    side = f"[{at}:]" if spec.forward else f"[:{at}]"
    return f"""SELECT o.person_id, (array_agg(o.name)){side} AS p, (array_agg(o.ts)){side} AS pts
FROM (
    SELECT e.person_id, e.ts, e.name COLLATE "C" AS name
    FROM events e
    WHERE {" AND ".join(cond)}
    ORDER BY e.person_id, e.ts, e.name COLLATE "C"
) o
GROUP BY o.person_id
HAVING {at} IS NOT NULL"""


def path_sql(spec: PathsSpec, inp: _Input, part: str | None) -> str:
    """SELECT (person_id, path)."""
    away = 'u.ts, u.name COLLATE "C"' if spec.forward else 'u.ts DESC, u.name COLLATE "C" DESC'
    return f"""SELECT r.person_id, (array_agg(r.name))[1:{inp.depth}::int + 1] AS path
FROM (
    SELECT u.person_id, u.name
    FROM (
        SELECT s.person_id, unnest(s.p) AS name, unnest(s.p[2:]) AS nxt, unnest(s.pts) AS ts
        FROM (
{_indent(side_sql(spec, inp, part), 12)}
        ) s
        ORDER BY s.person_id
    ) u
    WHERE u.nxt IS NULL OR u.name <> u.nxt
    ORDER BY u.person_id, {away}
) r
GROUP BY r.person_id"""


def steps_sql(spec: PathsSpec, inp: _Input, paths: str, keep: str) -> str:
    """SELECT (`keep`, step, name, nxt): the steps of each row of `paths`
    (a part with a column `path`); `keep`: its columns to keep."""
    if spec.forward:
        step = f"generate_series(0, {inp.depth}::int)"
        nxt = "unnest(w.path[2:])"
    else:
        step = f"generate_series(0, -{inp.depth}::int, -1)"
        nxt = "unnest(array_prepend(NULL::text, w.path))"
    return f"""SELECT x.*
FROM (
    SELECT {keep}, {step} AS step, unnest(w.path) AS name, {nxt} AS nxt
    FROM {paths} w
) x
WHERE x.name IS NOT NULL"""


def path_counts_part(q: Statement, spec: PathsSpec, inp: _Input) -> str:
    """path_counts(path, people): people per distinct path, counted in each
    part of the persons (side by side), the parts added up."""
    parts = "\nUNION ALL\n".join(f"""SELECT pp.path, count(*) AS people
FROM (
{_indent(path_sql(spec, inp, part), 4)}
) pp
GROUP BY pp.path""" for part in person_id_ranges(PARTS))
    return q.part("path_counts", f"""
SELECT h.path, sum(h.people) AS people
FROM (
{parts}
) h
GROUP BY h.path""")


def counted_part(q: Statement, spec: PathsSpec, inp: _Input) -> str:
    """counted(step, name, nxt, people): the distinct paths expanded."""
    paths = path_counts_part(q, spec, inp)
    return q.part("counted", f"""
SELECT st.step, st.name COLLATE "C" AS name, st.nxt COLLATE "C" AS nxt, sum(st.people) AS people
FROM (
{_indent(steps_sql(spec, inp, paths, "w.people"), 4)}
) st
GROUP BY st.step, st.name, st.nxt""", materialized=True)


def kept_part(q: Statement, spec: PathsSpec, counted: str) -> str:
    return q.part("kept", f"""
SELECT step, name
FROM (
    SELECT step, name, row_number() OVER (PARTITION BY step ORDER BY sum(people) DESC, name) AS rank
    FROM {counted}
    GROUP BY step, name
) r
WHERE rank <= {q.param(spec.limit)}""")


def build(project_id: uuid.UUID, spec: PathsSpec) -> tuple[str, list[Any]]:
    """Rows (kind 'node' | 'link', step, source, target, people)."""
    q = Statement()
    q.param(project_id)
    counted = counted_part(q, spec, _input(q, spec))
    kept = kept_part(q, spec, counted)
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
    same statement. Its per-person part (each person's arrays and path,
    grouped by person) runs on every shard, and so does the count per
    distinct path (partial counts); the coordinator adds up the shards'
    counts (a few rows) and ranks the names."""
    return build(project_id, spec)


def build_people_per_shard(project_id: uuid.UUID, spec: PathsPeopleSpec) -> tuple[str, list[Any]]:
    """build_people for a Citus cluster: `steps` inlined into each reader
    (NOT MATERIALIZED): read twice by the page, Citus would otherwise pull
    every person's steps to the coordinator; inlined, the page's people are
    found on every shard (each shard's first page, merged)."""
    return build_people(project_id, spec, per_shard=True)


def build_people(project_id: uuid.UUID, spec: PathsPeopleSpec, per_shard: bool = False) -> tuple[str, list[Any]]:
    """Rows (person_id) of one page (first + 1 rows: the extra one says there is a next page)."""
    q = Statement()
    q.param(project_id)
    report = spec.report
    inp = _input(q, report)
    paths = q.part("paths", path_sql(report, inp, None), materialized=False if per_shard else None)
    steps = q.part("steps", steps_sql(report, inp, paths, "w.person_id"), materialized=not per_shard)
    counted = q.part("counted", f"""
SELECT step, name COLLATE "C" AS name, count(*) AS people
FROM {steps}
GROUP BY step, name""")
    kept = kept_part(q, report, counted)
    # A name's node, or the folded node (event None): the names outside `kept`.
    in_kept = f"EXISTS (SELECT 1 FROM {kept} k WHERE k.step = s.step AND k.name = s.name)"
    if spec.event is not None:
        node = f"s.name = {q.param(spec.event)}::text AND {in_kept}"
    else:
        node = f"NOT {in_kept}"
    cond = [f"s.step = {q.param(spec.step)}::int", node]
    if spec.after is not None:
        cond.append(f"s.person_id > {q.param(spec.after)}::uuid")
    return q.select(f"""
SELECT s.person_id FROM {steps} s
WHERE {" AND ".join(cond)}
ORDER BY s.person_id
LIMIT {q.param(spec.first + 1)}""")

"""The funnel's statement (DESIGN.md §5 Funnel), built from its parts, each
made by a small function: the population (`population_part`, a part of a
`Statement`, app/reports/sql.py), the chains (`_chains_set_based` or
`_chains_walked`), the segments and the duration statistics (`_aggregates`,
`_merged_statistics`). No SQL is edited after it is written: WITH RECURSIVE is
chosen up front, and the expressions used twice are functions of their
operands (`_p90_rank`, `_histogram_columns`). The rows it returns are of the
kinds of `RowKind` (app/reports/funnel/assembly.py).

One statement computes every person's chain and aggregates the chains: Python
receives a few rows (people per step and segment, the duration statistics'
order statistics and histogram counts), never a row per person or per event.

The chains, two ways (docs/reports.md, "Funnel", has the argument):

- **Set-based** when every event can match at most one step (all step names
  differ; `where` filters allowed): the step events come as one stream in
  (person, ts DESC) order — a merge of one index scan per step over
  `events_name_person_ts` (db/migrations/0005_reports.sql, 0006) — and one
  window pass gives, at each start, the first event of every later step at or
  after it. Only starts with a step-1 event at or after them enter it; people
  with none (`lone`) reach level 1 from their earliest start, read from a
  backward index-only scan. From a start, the greedy chain is t₁ = that first step-1 event, and
  t_k = the window's step-k value when it is ≥ t_{k−1}, else (rare: a step-k
  event between the start and t_{k−1}) one index lookup. A start's level
  counts the chain times within the window; DISTINCT ON picks each person's
  earliest start with the highest level.
- **Walked** otherwise (a repeated step name: one event can match two steps):
  per person, the events' timestamps and step masks as arrays walked by
  `whodid_funnel_chain` (PL/pgSQL, db/migrations/0003_funnel.sql).

Then, in the same statement: the segment value (the chain's step-0 event
property, or the person's current property, in text form), the fold of every
value outside the `limit` largest into null, and per (segment, step) the
number of people, the exact sum of the durations, the order statistics that
the median and p90 need, and the histogram counts. Python assembles the steps,
the rates and the significance tests (app/reports/stats.py).

On a Citus cluster (`per_shard`) the chains are always walked, on every
shard, and one row per person comes to the coordinator, which aggregates
them (docs/scaling.md, "Reports on Citus").

peopleList needs every person's chain; the statement returns them compactly
(about 60 bytes a person) only when asked (`with_people`): the GraphQL
resolver asks when the query selects peopleList, and otherwise the lists are
"""
from __future__ import annotations

import uuid
from typing import Any

from ...storage.filters import Params, filters_sql, text_form
from .. import stats
from ..population import population_part
from ..sql import IdRange, Statement, and_condition, in_part
from .assembly import RowKind
from .spec import FunnelSpec

# Timestamps travel to Python as timestamptz_send's 8 bytes (µs since
# 2000-01-01); moved by this much they count from 1970-01-01 instead.
_TO_UNIX = "interval '946684800 seconds'"
_NO_TIME = "'\\x0000000000000000'::bytea"

# The row kinds (column `kind`) as the statement writes them.
SIZES, DURATIONS, SEGMENT_VALUE, PEOPLE, PART_SIZES, PART_DURATIONS = (str(k.value) for k in (
    RowKind.SIZES, RowKind.DURATIONS, RowKind.SEGMENT_VALUE, RowKind.PEOPLE, RowKind.PART_SIZES,
    RowKind.PART_DURATIONS))


def _step_conditions(spec: FunnelSpec, p: Params, alias: str = "e") -> list[str]:
    """Per step, the condition an event row `alias` must meet (name and filters)."""
    names: dict[str, str] = {}
    out = []
    for step in spec.steps:
        if step.event not in names:
            names[step.event] = p.add(step.event)
        cond = f"{alias}.name = {names[step.event]}::text"
        if step.where:
            cond += " AND " + filters_sql(f"{alias}.properties", list(step.where), p)
        out.append(cond)
    return out


def _chains_set_based(
    spec: FunnelSpec, p: Params, from_ph: str, to_ph: str, conds: list[str], population: str | None = None,
    part: IdRange | None = None,
) -> str:
    """CTEs ending in `best(person_id, level, t0 .. t{n-1}, seq)`: each person's
    chain when no event can match two steps; only the people of `population`
    (the name of a part of person ids) when given, and of the range of
    person ids `part` (build_parts) when given."""
    n = len(spec.steps)
    window = spec.window_seconds is not None
    in_population = "" if population is None else f" AND e.person_id IN (SELECT pp.id FROM {population} pp)"
    in_population += and_condition(in_part(part, "e.person_id"))

    def in_range(k: int) -> str:
        return (f"e.project_id = $1 AND {conds[k]} AND e.ts >= {from_ph}::timestamptz"
                f" AND e.ts < {to_ph}::timestamptz{in_population}")

    # Each person's earliest start (time, then seq): person DESC is the order
    # of a backward scan of events_name_person_ts, which then needs no sort.
    first = f"""SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS t0, e.seq FROM events e
          WHERE {in_range(0)}
          ORDER BY e.person_id DESC, e.ts, e.seq"""
    if n == 1:
        return f"""
best AS (SELECT f.person_id, 1 AS level, f.t0, f.seq FROM ({first}) f)"""
    # Only the starts with a step-1 event at or after them (t0 ≤ the person's
    # last step-1 time) can reach step 1; the others reach level 1 and are
    # later than the person's earliest start, so they never decide a chain.
    # They stay out of the window pass; people who have no such start at all
    # are `lone` below (docs/reports.md, "Funnel").
    last1 = f"""(SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS last1 FROM events e
               WHERE {in_range(1)}
               ORDER BY e.person_id, e.ts DESC) l"""
    starts = f"""        (SELECT e.person_id, e.ts, e.seq, 0 AS k FROM events e
         JOIN {last1} ON l.person_id = e.person_id AND e.ts <= l.last1
         WHERE {in_range(0)}
         ORDER BY e.person_id, e.ts DESC)"""
    # One index scan per step, each in (person, ts DESC) order: merged, they give
    # the window its order without a sort. Each scan's rows carry their step k.
    stream = "\n        UNION ALL\n".join(
        [starts]
        + [
            f"""        (SELECT e.person_id, e.ts, e.seq, {k} AS k FROM events e
         WHERE {in_range(k)}
         ORDER BY e.person_id, e.ts DESC)"""
            for k in range(1, n)
        ]
    )
    # nk: the first step-k event at or after this row's time (the same time
    # counts, whatever the seq): a running min over the person's later rows.
    nexts = ",\n           ".join(f"min(m.ts) FILTER (WHERE m.k = {k}) OVER later AS n{k}" for k in range(1, n))
    dl = ""
    if window:
        win_ph = p.add(spec.window_seconds)
        # Seconds, never '1 day': no daylight-saving changes (docs/reports.md).
        dl = f", w.ts + {win_ph}::bigint * interval '1 second' AS dl"
    ncols = ", ".join(f"w.n{k}" for k in range(2, n))
    # The starts are `k < 1` rather than `k = 0`: the same rows, but the planner,
    # which cannot see the constants' distribution, then expects a third of the
    # rows instead of 0.5 % and hashes the small side of the joins that follow.
    sql = f"""
w AS (
    SELECT m.person_id, m.ts, m.seq, m.k,
           {nexts}
    FROM (
{stream}
    ) m
    WINDOW later AS (PARTITION BY m.person_id ORDER BY m.ts DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
s1 AS (
    SELECT w.person_id, w.ts AS t0, w.seq, w.n1 AS t1{", " + ncols if ncols else ""}{dl}
    FROM w WHERE w.k < 1
)"""
    for k in range(2, n):
        past = f" OR s.t{k - 1} > s.dl" if window else ""
        # t_k: the first step-k event at or after t_{k-1}. nk (first at or after
        # t0) is it unless a step-k event lies between t0 and t_{k-1}; then one
        # index lookup. Past the window the chain is over: not computed.
        sql += f""",
s{k} AS (
    SELECT s.*,
           CASE WHEN s.t{k - 1} IS NULL{past} OR s.n{k} IS NULL THEN NULL
                WHEN s.n{k} >= s.t{k - 1} THEN s.n{k}
                ELSE (SELECT min(e.ts) FROM events e
                      WHERE e.project_id = $1 AND {conds[k]} AND e.person_id = s.person_id
                        AND e.ts >= s.t{k - 1} AND e.ts < {to_ph}::timestamptz)
           END AS t{k}
    FROM s{k - 1} s
    OFFSET 0
)"""
    if window:
        level = " + ".join(["1"] + [f"coalesce((s.t{k} <= s.dl)::int, 0)" for k in range(1, n)])
    else:
        level = " + ".join(["1"] + [f"(s.t{k} IS NOT NULL)::int" for k in range(1, n)])
    times = ", ".join(f"s.t{k}" for k in range(n))
    no_times = ", ".join(f"NULL::timestamptz AS t{k}" for k in range(1, n))
    # lone: people with no step-1 event at or after their earliest start (half
    # of them in the benchmark): level 1, chain = that start.
    sql += f""",
chained AS (
    SELECT DISTINCT ON (s.person_id) s.person_id, s.level, {times}, s.seq
    FROM (SELECT s.*, {level} AS level FROM s{n - 1} s) s
    ORDER BY s.person_id, s.level DESC, s.t0, s.seq
),
lone AS (
    SELECT f.person_id, 1 AS level, f.t0, {no_times}, f.seq
    FROM ({first}) f
    WHERE NOT EXISTS (SELECT FROM events e
                      WHERE {in_range(1)} AND e.person_id = f.person_id AND e.ts >= f.t0)
),
best AS (SELECT * FROM chained UNION ALL SELECT * FROM lone)"""
    return sql


def build_query(
    project_id: uuid.UUID, spec: FunnelSpec, with_people: bool = False, *, per_shard: bool = False
) -> tuple[str, list[Any]]:
    """The statement and its parameters: `WITH` the population (when
    filtered), the chains (`_chains_set_based` or `_chains_walked`), then the
    segments and statistics (`_aggregates`, `_merged_statistics`). Its rows are
    of the kinds of RowKind (column `kind`): SIZES, people at step 0 per
    segment (`overall` 1: everyone); DURATIONS, statistics per (segment,
    step ≥ 1); SEGMENT_VALUE, the kept segment values by rank; PEOPLE
    (with_people), the per-person chains as byte strings."""
    p = Params(project_id)
    # WITH RECURSIVE when the statistics of a segmented funnel search their
    # order statistics (_merged_statistics' `search`), which is then a part.
    recursive = spec.segment_by is not None and len(spec.steps) > 1 and not per_shard
    sql = _with_chains(spec, p, recursive=recursive, per_shard=per_shard)
    sql += _aggregates(spec, p, with_people, merged=recursive)
    return sql, p.values


def build_part_query(project_id: uuid.UUID, spec: FunnelSpec, part: IdRange) -> tuple[str, list[Any]]:
    """The statement of one part of build_parts: the chains of the persons
    of the range of ids `part` (build_query's chains, the range added to
    their event scans), aggregated per **raw** segment value (not folded:
    which values are kept depends on every part's people) in rows of the
    kinds PART_SIZES and PART_DURATIONS (`_part_aggregates`)."""
    p = Params(project_id)
    sql = _with_chains(spec, p, recursive=False, per_shard=False, part=part)
    sql += _part_aggregates(spec)
    return sql, p.values


def build_parts(project_id: uuid.UUID, spec: FunnelSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges):
    a person's chain is whole in their range, so the parts' people per raw
    segment value and their durations add up; the assembly
    (assembly.py `assemble`) chooses the kept values, folds the others and
    merges the parts' sorted durations into the statistics. Run side by
    side on connections of one snapshot (ReportService._funnel); not for
    peopleList (with_people) nor on Citus (the one statement there)."""
    return [build_part_query(project_id, spec, (i, parts)) for i in range(parts)]


def _with_chains(
    spec: FunnelSpec, p: Params, *, recursive: bool, per_shard: bool,
    part: IdRange | None = None,
) -> str:
    """`WITH` the population (when filtered) and the parts ending in
    `chains(person_id, level, t0 .. t{n-1}, sv)`: every person's chain and
    segment value (raw), of the persons of `part` when given."""
    n = len(spec.steps)
    from_ph = p.add(spec.from_)
    to_ph = p.add(spec.to)
    seg = spec.segment_by
    conds = _step_conditions(spec, p)
    key_ph = p.add(seg.key) if seg is not None else None

    # The population (when filtered) as a part of its own, before the chains,
    # which read only its people's events.
    q = Statement(p)
    population = population_part(q, spec.people)
    head = ("WITH RECURSIVE" if recursive else "WITH") + "".join(f"\n{x.sql()}," for x in q.parts)
    if spec.one_step_per_event and not spec.walks_options and not per_shard:
        sql = head + _chains_set_based(spec, p, from_ph, to_ph, conds, population, part)
        times = ", ".join(
            "b.t0" if k == 0 else f"CASE WHEN b.level > {k} THEN b.t{k} END AS t{k}" for k in range(n)
        )
        of_part = and_condition(in_part(part, "e.person_id"))
        if seg is not None and seg.first_step_property is not None:
            # The chain's step-0 event, by (person, time, seq), among the step-0
            # events that have the property (the others give null): scanned once
            # and hashed, never probed once per person. A subquery behind OFFSET 0
            # rather than a materialized CTE: the planner then sees the events'
            # statistics (seq is unique) and hashes it; over a CTE it assumed 200
            # distinct keys and sorted both sides for a merge join (~15 ms more).
            sql += f""",
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, {times}, x.sv
    FROM best b LEFT JOIN (
        SELECT e.person_id, e.ts, e.seq, {text_form("e.properties", key_ph)} AS sv FROM events e
        WHERE e.project_id = $1 AND e.name = {p.add(spec.steps[0].event)}::text
          AND e.ts >= {from_ph}::timestamptz AND e.ts < {to_ph}::timestamptz AND e.properties ? {key_ph}::text{of_part}
        OFFSET 0
    ) x ON x.person_id = b.person_id AND x.ts = b.t0 AND x.seq = b.seq
)"""
        elif seg is not None:
            sql += f""",
svs AS MATERIALIZED (
    SELECT pr.id, {text_form("pr.properties", key_ph)} AS sv FROM persons pr
    WHERE pr.project_id = $1 AND pr.properties ? {key_ph}::text{and_condition(in_part(part, "pr.id"))}
),
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, {times}, x.sv
    FROM best b LEFT JOIN svs x ON x.id = b.person_id
)"""
        else:
            sql += f""",
chains AS MATERIALIZED (SELECT b.person_id, b.level, {times}, NULL::text AS sv FROM best b)"""
        return sql
    # Per shard (Citus), no OFFSET 0 fence: a subquery with an OFFSET is
    # pulled to the coordinator whole (Citus' recursive planning).
    return head + _chains_walked(spec, p, from_ph, to_ph, conds, key_ph, population, fenced=not per_shard,
                                 part=part)


def _exclusion_conditions(spec: FunnelSpec, p: Params, alias: str = "e") -> list[str]:
    """Per exclusion, the condition an event row `alias` must meet."""
    out = []
    for x in spec.exclusions:
        cond = f"{alias}.name = {p.add(x.event)}::text"
        if x.where:
            cond += " AND " + filters_sql(f"{alias}.properties", list(x.where), p)
        out.append(cond)
    return out


_OFFSET_FENCE = "\n            OFFSET 0"  # (indented as the ORDER BY it follows in _chains_walked)


def _chains_walked(
    spec: FunnelSpec, p: Params, from_ph: str, to_ph: str, conds: list[str], key_ph: str | None,
    population: str | None = None, fenced: bool = True, part: IdRange | None = None,
) -> str:
    """`chains` by the PL/pgSQL walk: for any funnel (repeated step names), and
    for every funnel with options (exclusions, holdConstant, a population:
    whodid_funnel_chain_options, db/migrations/0008_funnel_options.sql); of
    the persons of `part` only, when given."""
    n = len(spec.steps)
    options = spec.walks_options
    names = {s.event for s in spec.steps} | {x.event for x in spec.exclusions}
    names_ph = p.add(sorted(names))
    bits = list(conds)
    hold_ph = None
    if spec.hold_constant is not None:
        hold_ph = p.add(spec.hold_constant)
        # A start must have the held property (any value, JSON null included).
        bits[0] = f"{bits[0]} AND e.properties ? {hold_ph}::text"
    bits += _exclusion_conditions(spec, p)
    one = "::bigint" if options else ""
    mask = "\n               | ".join(
        f"CASE WHEN {cond} THEN {1 << k}{one} ELSE 0{one} END" for k, cond in enumerate(bits)
    )
    seg = spec.segment_by
    m_extra = agg_extra = join = ""
    segment_value = "NULL::text"
    if seg is not None and seg.first_step_property is not None:
        m_extra = f", {text_form('e.properties', key_ph)} AS sv"
        agg_extra = ",\n               array_agg(CASE WHEN (m.mask & 1) = 1 THEN m.sv END ORDER BY m.ts, m.seq) AS svs"
        segment_value = "p.svs[f.start_idx]"
    elif seg is not None:
        join = "\n    LEFT JOIN persons pr ON pr.project_id = $1 AND pr.id = p.person_id"
        segment_value = text_form("pr.properties", key_ph)
    if hold_ph is not None:
        m_extra += f", {text_form('e.properties', hold_ph)} AS hv"
        agg_extra += ",\n               array_agg(m.hv ORDER BY m.ts, m.seq) AS hvs"
    in_population = ""
    if population is not None:
        in_population = f"\n              AND e.person_id IN (SELECT pp.id FROM {population} pp)"
    in_population += and_condition(in_part(part, "e.person_id"))
    nsteps_ph = p.add(n)
    window_ph = p.add(spec.window_seconds)
    earliest_ph = p.add(spec.earliest_start_suffices)
    times = ", ".join(f"f.times[{k + 1}] AS t{k}" for k in range(n))
    if options:
        walk = f"""whodid_funnel_chain_options(
        p.tss, p.masks, {"p.hvs" if hold_ph is not None else "NULL::text[]"}, {nsteps_ph}::int, {window_ph}::bigint,
        {earliest_ph}::boolean, {p.add(hold_ph is not None)}::boolean,
        {p.add([x.after_step for x in spec.exclusions])}::int[], {p.add([x.before_step for x in spec.exclusions])}::int[]) f"""
    else:
        walk = f"""whodid_funnel_chain(
        p.tss, p.masks, {nsteps_ph}::int, {window_ph}::bigint, {earliest_ph}::boolean) f"""
    # Excluded people leave the whole report (their chain is not a chain).
    kept = "\n    WHERE NOT f.excluded" if spec.exclusions else ""
    return f"""
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, {times}, {segment_value} AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks{agg_extra}
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event. The aggregates still say ORDER BY: the arrays' order must
            -- not depend on the plan.
            SELECT e.person_id, e.ts, e.seq,
                   ({mask}) AS mask{m_extra}
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY({names_ph}::text[])
              AND e.ts >= {from_ph}::timestamptz AND e.ts < {to_ph}::timestamptz{in_population}
            ORDER BY e.person_id, e.ts, e.seq{_OFFSET_FENCE if fenced else ""}
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL {walk}{join}{kept}
)"""


def _aggregates(spec: FunnelSpec, p: Params, with_people: bool, merged: bool) -> str:
    """From `chains(person_id, level, t0 .. t{n-1}, sv)`: the segments and the
    statistics rows (see build_query)."""
    n = len(spec.steps)
    seg = spec.segment_by
    if seg is not None:
        limit_ph = p.add(seg.limit)
        # The `limit` values with the most people (ties: value ascending, in code
        # point order: COLLATE "C"); every other value folds into null (rank 0).
        # The chains are read twice: once for the people per value (`counts`,
        # which also gives the people per segment), once for the durations.
        # `lab` is inlined into each duration scan (a hash join with the few kept
        # values, for the chains that reached the step only): cheaper than
        # writing and rereading a labelled copy of every chain.
        sql = f""",
counts AS (SELECT c.sv, count(*) AS n FROM chains c GROUP BY c.sv),
kept AS (
    SELECT c.sv, row_number() OVER (ORDER BY c.n DESC, c.sv COLLATE "C") AS segrank
    FROM counts c WHERE c.sv IS NOT NULL
    ORDER BY c.n DESC, c.sv COLLATE "C" LIMIT {limit_ph}::int
),
lab AS NOT MATERIALIZED (
    SELECT c.*, coalesce(k.segrank, 0) AS segrank FROM chains c LEFT JOIN kept k ON k.sv = c.sv
)"""
        # People at step 0 per segment and overall, from the counts per value
        # (as many rows as values, not a row per chain).
        sizes = (f"SELECT {SIZES} AS kind, GROUPING(r.segrank) AS overall, r.segrank, 0 AS k,"
                 " coalesce(sum(r.n), 0)::bigint AS n,")
        sizes_from = """FROM (SELECT coalesce(k.segrank, 0) AS segrank, c.n FROM counts c LEFT JOIN kept k ON k.sv = c.sv) r
GROUP BY GROUPING SETS ((r.segrank), ())"""
        groups = "GROUP BY GROUPING SETS ((d.k, d.segrank), (d.k))"
        overall_d = "GROUPING(d.segrank)"
        kept = (f"\nUNION ALL\nSELECT {SEGMENT_VALUE}, 0, k.segrank, 0, 0"
                + ", NULL" * 6 + ", k.sv" + ", NULL" * 4 + " FROM kept k")
    else:
        sql = ",\nlab AS (SELECT c.*, 0::bigint AS segrank FROM chains c)"
        sizes = f"SELECT {SIZES} AS kind, 1 AS overall, l.segrank, 0 AS k, count(*) AS n,"
        sizes_from = "FROM lab l GROUP BY l.segrank"
        groups = "GROUP BY d.k, d.segrank"
        overall_d = "1"
        kept = ""

    # Durations t_k − t_{k−1} (intervals: exact µs) of the chains that reached k.
    pairs = "\n      UNION ALL ".join(
        f"SELECT l.segrank, {k} AS k, l.t{k} - l.t{k - 1} AS d FROM lab l WHERE l.level > {k}" for k in range(1, n)
    )
    buckets = _histogram_counts("d.d", [f"interval '{b} seconds'" for b in stats.HISTOGRAM_BOUNDS])
    # The order statistics that median and p90 need (app/reports/stats.py, numpy's
    # linear method): 0-based ranks (n−1) div 2 and n div 2; ⌊0.9·(n−1)⌋ and the
    # next — computed in float8 exactly as Python computes them.
    h = _p90_rank("count(*)")
    ordered = "(array_agg(d.d ORDER BY d.d))"
    if merged:
        sql += _merged_statistics(pairs, buckets)
    sql += f"""
{sizes}
       NULL::numeric AS total, NULL::numeric AS med_lo, NULL::numeric AS med_hi,
       NULL::numeric AS p90_lo, NULL::numeric AS p90_hi, NULL::bigint[] AS histogram, NULL::text AS value,
       NULL::bytea AS ids, NULL::bytea AS levels, NULL::bytea AS segments, NULL::bytea AS times
{sizes_from}"""
    if merged:
        hist = _histogram_columns("g", len(buckets))
        all_hist = _histogram_columns("a", len(buckets))
        hg = _p90_rank("g.n")
        sql += f"""
UNION ALL
SELECT {DURATIONS}, 0, g.segrank, g.k, g.n, extract(epoch FROM g.total),
       extract(epoch FROM g.sorted[(g.n::int - 1) / 2 + 1]),
       extract(epoch FROM g.sorted[g.n::int / 2 + 1]),
       extract(epoch FROM g.sorted[{hg} + 1]),
       extract(epoch FROM g.sorted[least({hg} + 2, g.n::int)]),
       ARRAY[{hist}], NULL, NULL, NULL, NULL, NULL
FROM segstats g
UNION ALL
SELECT {DURATIONS}, 1, NULL, a.k, a.n, extract(epoch FROM a.total),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 1) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 2) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 3) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 4) * interval '1 microsecond'),
       ARRAY[{all_hist}], NULL, NULL, NULL, NULL, NULL
FROM allstats a JOIN (SELECT s.k, s.i, s.hi AS us FROM search s WHERE s.hi - s.lo <= 1) f ON f.k = a.k
GROUP BY a.k, a.n, a.total, {all_hist}"""
    elif n > 1:
        sql += f"""
UNION ALL
SELECT {DURATIONS}, {overall_d}, d.segrank, d.k, count(*),
       extract(epoch FROM sum(d.d)),
       extract(epoch FROM {ordered}[(count(*)::int - 1) / 2 + 1]),
       extract(epoch FROM {ordered}[count(*)::int / 2 + 1]),
       extract(epoch FROM {ordered}[{h} + 1]),
       extract(epoch FROM {ordered}[least({h} + 2, count(*)::int)]),
       ARRAY[{", ".join(buckets)}],
       NULL, NULL, NULL, NULL, NULL
FROM ({pairs}) d
{groups}"""
    sql += kept
    if with_people:
        times = " || ".join(f"coalesce(timestamptz_send(l.t{k} + {_TO_UNIX}), {_NO_TIME})" for k in range(n))
        sql += f"""
UNION ALL
SELECT {PEOPLE}, 0, 0, 0, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       string_agg(uuid_send(l.person_id), ''::bytea),
       string_agg(int2send(l.level::int2), ''::bytea),
       string_agg(int2send(l.segrank::int2), ''::bytea),
       string_agg({times}, ''::bytea)
FROM lab l"""
    return sql


def _part_aggregates(spec: FunnelSpec) -> str:
    """From `chains(person_id, level, t0 .. t{n-1}, sv)` of one part: per raw
    segment value sv (null included), PART_SIZES, the people at step 0; per
    (sv, step k ≥ 1), PART_DURATIONS: the count, the exact sum in µs, the
    histogram counts and the durations t_k − t_{k−1} in whole µs sorted (a
    bigint array: asyncpg decodes it fast, intervals slowly). The assembly
    adds the parts' rows up, folds the values it does not keep, and finds
    the order statistics in the sorted arrays (assembly.py `_merged`)."""
    n = len(spec.steps)
    sql = f"""
SELECT {PART_SIZES} AS kind, c.sv, 0 AS k, count(*) AS n, NULL::numeric AS total, NULL::bigint[] AS histogram,
       NULL::bigint[] AS us
FROM chains c GROUP BY c.sv"""
    if n > 1:
        pairs = "\n      UNION ALL ".join(
            f"SELECT c.sv, {k} AS k, (extract(epoch FROM c.t{k} - c.t{k - 1}) * 1000000)::bigint AS us"
            f" FROM chains c WHERE c.level > {k}" for k in range(1, n)
        )
        buckets = _histogram_counts("d.us", [str(b * 1_000_000) for b in stats.HISTOGRAM_BOUNDS])
        sql += f"""
UNION ALL
SELECT {PART_DURATIONS}, d.sv, d.k, count(*), sum(d.us), ARRAY[{", ".join(buckets)}],
       array_agg(d.us ORDER BY d.us)
FROM ({pairs}) d
GROUP BY d.sv, d.k"""
    return sql


def _histogram_counts(value: str, bounds: list[str]) -> list[str]:
    """The histogram's aggregates over `value`: a count per bucket (previous
    bound, bound] of the SQL literals `bounds`, the first from below, the
    last above the last bound (stats.HISTOGRAM_BOUNDS)."""
    counts = [f"count(*) FILTER (WHERE {value} <= {bounds[0]})"]
    counts += [f"count(*) FILTER (WHERE {value} > {a} AND {value} <= {b})" for a, b in zip(bounds, bounds[1:])]
    counts.append(f"count(*) FILTER (WHERE {value} > {bounds[-1]})")
    return counts


def _p90_rank(count: str, type_: str = "int") -> str:
    """⌊0.9·(n−1)⌋, the 0-based rank of p90's lower order statistic, of the
    count `count` (an expression), in float8 exactly as Python computes it
    (app/reports/stats.py, numpy's linear method)."""
    return f"floor(0.9::float8 * ({count} - 1)::float8)::{type_}"


def _histogram_columns(alias: str, buckets: int) -> str:
    """The histogram counts' columns h0 .. of the part `alias`."""
    return ", ".join(f"{alias}.h{i}" for i in range(buckets))


def _merged_statistics(pairs: str, buckets: list[str]) -> str:
    """CTEs of the duration statistics of a segmented funnel, each duration
    sorted once: `segstats` per (step, segment) — count, exact sum, histogram
    counts, the durations sorted (array_agg ORDER BY) — and `allstats` per step
    (everyone), whose sums add the segments' up; its order statistics are found
    in the segments' sorted arrays, not by sorting every duration again (an
    ordered aggregate sorts its input per group, so GROUPING SETS sorted each
    duration twice). `search` (recursive): for each of the four positions p
    (1-based) that median and p90 need, a binary search over whole
    microseconds for the least v with #(durations ≤ v) ≥ p — that is the p-th
    smallest duration, exactly, since durations are whole microseconds —
    counting with width_bucket (a binary search in each sorted array: the
    number of elements ≤ v). About 40 halvings of [min − 1 µs, max]."""
    hist = ",\n           ".join(f"{b} AS h{i}" for i, b in enumerate(buckets))
    sums = ", ".join(f"sum(g.h{i})::bigint AS h{i}" for i in range(len(buckets)))
    h = _p90_rank("a.n", "bigint")
    return f""",
segstats AS MATERIALIZED (
    SELECT d.k, d.segrank, count(*) AS n, sum(d.d) AS total, array_agg(d.d ORDER BY d.d) AS sorted,
           {hist}
    FROM ({pairs}) d
    GROUP BY d.k, d.segrank
),
allstats AS MATERIALIZED (
    SELECT g.k, sum(g.n)::bigint AS n, sum(g.total) AS total, {sums},
           min(g.sorted[1]) AS lo, max(g.sorted[g.n::int]) AS hi
    FROM segstats g GROUP BY g.k
),
search (k, i, pos, lo, hi) AS (
    SELECT a.k, r.i, r.pos, (extract(epoch FROM a.lo) * 1000000)::bigint - 1,
           (extract(epoch FROM a.hi) * 1000000)::bigint
    FROM allstats a CROSS JOIN LATERAL (VALUES (1, (a.n - 1) / 2 + 1), (2, a.n / 2 + 1), (3, {h} + 1),
                                               (4, least({h} + 2, a.n))) r(i, pos)
    UNION ALL
    SELECT s.k, s.i, s.pos,
           CASE WHEN c.le >= s.pos THEN s.lo ELSE (s.lo + s.hi) / 2 END,
           CASE WHEN c.le >= s.pos THEN (s.lo + s.hi) / 2 ELSE s.hi END
    FROM search s CROSS JOIN LATERAL (
        SELECT sum(width_bucket(((s.lo + s.hi) / 2) * interval '1 microsecond', g.sorted)) AS le
        FROM segstats g WHERE g.k = s.k
    ) c
    WHERE s.hi - s.lo > 1
)"""


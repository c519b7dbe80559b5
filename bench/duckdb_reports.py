"""The three reports of DESIGN.md §5 in DuckDB, in-process, over the same rows
as whodid (bench/generate.py's CSV): the yardstick for bench/reports.py.

Same semantics, written for DuckDB:
- funnel: every step-0 event in [from, to) is a start; each next step is the
  earliest event of that step at or after the previous one (ASOF join), before
  `to` and within the window of the start; a person's chain is the start that
  reaches most steps, the earliest on a tie. (The steps have distinct names
  here, so no event can be matched twice in a chain.) Segments: the property
  of the chain's step-0 event (a JSON string as its text), the `limit` values
  with most people (ties: value ascending), the rest folded into null.
  `funnel` computes the whole answer whodid's statement computes (the
  duration statistics of timeFromPrevious per step and segment and overall,
  and the people, droppedOff and conversions), all in DuckDB SQL;
  `funnel_counts` is the earlier yardstick, the people per step and segment
  only (docs/benchmarks.md §11 and §19.1). The segments' comparisons
  (significance) are left out: whodid computes them in Python after its
  statement.
- cohort: t0 = the first cohortEvent ever; rows by the ISO week (or day, month)
  of t0 in [from, to); cell n = people with a returnEvent in [t0 + nB, t0 + (n+1)B).
- revenue: sums of Revenue (DECIMAL, exact) in [from, to), per calendar month,
  paying people (a positive Revenue in range), and by first-touch source (the
  first value of the property among the person's property sets and events,
  by time; a property set before an event at the same time, then seq)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

LOAD_SQL = """
SET TimeZone = 'UTC';
CREATE OR REPLACE TABLE events AS
  SELECT person_id::UUID AS person_id, seq::BIGINT AS seq, name,
         ts::TIMESTAMPTZ::TIMESTAMP AS ts, NULLIF(revenue, '')::DECIMAL(18, 2) AS revenue, properties::JSON AS properties
  FROM read_csv('{events}', header = true, all_varchar = true);
CREATE OR REPLACE TABLE property_changes AS
  SELECT person_id::UUID AS person_id, seq::BIGINT AS seq, key, value::JSON AS value,
         "at"::TIMESTAMPTZ::TIMESTAMP AS "at"
  FROM read_csv('{property_changes}', header = true, all_varchar = true);
"""

# The funnel's chains step by step, the start of both funnel statements
# below: the step events in range, each start with its segment value, and
# c1..c3 the earliest event of the next step at or after the previous one
# (ASOF), kept when within the window of the start.
_FUNNEL_CHAIN_STEPS = """
WITH ev AS (
    SELECT person_id, ts, seq, name, properties FROM events
    WHERE name IN ($s0, $s1, $s2, $s3) AND ts >= $from AND ts < $to
),
starts AS (
    SELECT person_id, ts AS t0, seq AS seq0,
           CASE WHEN json_type(properties -> $prop) = 'VARCHAR' THEN properties ->> $prop
                ELSE CAST(properties -> $prop AS VARCHAR) END AS sv
    FROM ev WHERE name = $s0
),
e1 AS (SELECT person_id, ts FROM ev WHERE name = $s1),
e2 AS (SELECT person_id, ts FROM ev WHERE name = $s2),
e3 AS (SELECT person_id, ts FROM ev WHERE name = $s3),
c1 AS (
    SELECT s.*, CASE WHEN e.ts <= s.t0 + to_seconds($window) THEN e.ts END AS t1
    FROM starts s ASOF LEFT JOIN e1 e ON s.person_id = e.person_id AND e.ts >= s.t0
),
c2 AS (
    SELECT c.*, CASE WHEN c.t1 IS NOT NULL AND e.ts <= c.t0 + to_seconds($window) THEN e.ts END AS t2
    FROM c1 c ASOF LEFT JOIN e2 e ON c.person_id = e.person_id AND e.ts >= coalesce(c.t1, c.t0)
),
c3 AS (
    SELECT c.*, CASE WHEN c.t2 IS NOT NULL AND e.ts <= c.t0 + to_seconds($window) THEN e.ts END AS t3
    FROM c2 c ASOF LEFT JOIN e3 e ON c.person_id = e.person_id AND e.ts >= coalesce(c.t2, c.t0)
),
"""

# The funnel's whole answer (DESIGN.md §5 Funnel), as whodid's statement
# computes it: the chains as in FUNNEL_COUNTS_SQL but with their times, then
# per (segment, step k >= 1) and per step overall the statistics of
# timeFromPrevious over the chains that reached k (d = t_k - t_{k-1}, in µs
# then seconds): count, mean, median (quantile_cont 0.5: the mean of the two
# middle values on an even count), p90 (quantile_cont 0.9: linear
# interpolation at (n - 1) * 0.9, numpy's default) and the histogram, a bucket
# holding (previous bound, bound]; and the people, droppedOff, conversions and
# conversionRate. One row per group (GROUPING 1: everyone), its steps' figures
# as lists by step.
FUNNEL_SQL = _FUNNEL_CHAIN_STEPS + """chains AS (
    SELECT person_id, sv, t0, t1, t2, t3,
           1 + (t1 IS NOT NULL)::INT + (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT AS level
    FROM c3
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY level DESC, t0, seq0) = 1
),
kept AS (
    SELECT sv FROM chains WHERE sv IS NOT NULL GROUP BY sv ORDER BY count(*) DESC, sv LIMIT $limit
),
segmented AS (
    SELECT k.sv AS segment, c.level, c.t0, c.t1, c.t2, c.t3 FROM chains c LEFT JOIN kept k ON k.sv = c.sv
),
people AS (
    SELECT GROUPING(segment) AS overall, segment,
           count(*) FILTER (WHERE level > 0) AS p0, count(*) FILTER (WHERE level > 1) AS p1,
           count(*) FILTER (WHERE level > 2) AS p2, count(*) FILTER (WHERE level > 3) AS p3
    FROM segmented GROUP BY ROLLUP (segment)
),
durations AS (
    SELECT segment, step, us, us::DOUBLE / 1000000 AS s FROM (
        SELECT segment, unnest([1, 2, 3]) AS step,
               unnest([epoch_us(t1) - epoch_us(t0), epoch_us(t2) - epoch_us(t1), epoch_us(t3) - epoch_us(t2)]) AS us
        FROM segmented WHERE t1 IS NOT NULL
    ) WHERE us IS NOT NULL
),
statistics AS (
    SELECT GROUPING(segment) AS overall, segment, step, count(*) AS n, avg(us) / 1000000 AS mean,
           quantile_cont(s, 0.5) AS median, quantile_cont(s, 0.9) AS p90,
           [count(*) FILTER (WHERE us <= 60000000),
            count(*) FILTER (WHERE us > 60000000 AND us <= 600000000),
            count(*) FILTER (WHERE us > 600000000 AND us <= 3600000000),
            count(*) FILTER (WHERE us > 3600000000 AND us <= 86400000000),
            count(*) FILTER (WHERE us > 86400000000 AND us <= 604800000000),
            count(*) FILTER (WHERE us > 604800000000 AND us <= 2592000000000),
            count(*) FILTER (WHERE us > 2592000000000)] AS histogram
    FROM durations GROUP BY GROUPING SETS ((segment, step), (step))
)
SELECT p.overall, p.segment, [p.p0, p.p1, p.p2, p.p3] AS people,
       [0, p.p0 - p.p1, p.p1 - p.p2, p.p2 - p.p3] AS dropped_off,
       [CASE WHEN p.p0 > 0 THEN 1.0::DOUBLE ELSE 0::DOUBLE END,
        CASE WHEN p.p0 > 0 THEN p.p1 / p.p0 ELSE 0::DOUBLE END, CASE WHEN p.p1 > 0 THEN p.p2 / p.p1 ELSE 0::DOUBLE END,
        CASE WHEN p.p2 > 0 THEN p.p3 / p.p2 ELSE 0::DOUBLE END] AS from_previous,
       [CASE WHEN p.p0 > 0 THEN 1.0::DOUBLE ELSE 0::DOUBLE END,
        CASE WHEN p.p0 > 0 THEN p.p1 / p.p0 ELSE 0::DOUBLE END, CASE WHEN p.p0 > 0 THEN p.p2 / p.p0 ELSE 0::DOUBLE END,
        CASE WHEN p.p0 > 0 THEN p.p3 / p.p0 ELSE 0::DOUBLE END] AS from_start,
       CASE WHEN p.p0 > 0 THEN p.p3 / p.p0 ELSE 0::DOUBLE END AS conversion_rate,
       list(s.step ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS steps,
       list(s.n ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS n,
       list(s.mean ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS mean,
       list(s.median ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS median,
       list(s.p90 ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS p90,
       list(s.histogram ORDER BY s.step) FILTER (WHERE s.step IS NOT NULL) AS histogram
FROM people p LEFT JOIN statistics s ON s.overall = p.overall AND s.segment IS NOT DISTINCT FROM p.segment
GROUP BY p.overall, p.segment, p.p0, p.p1, p.p2, p.p3
ORDER BY p.overall DESC, p.p0 DESC, p.segment NULLS LAST
"""

# The counts-only yardstick (before issue 16's correction, docs/benchmarks.md
# §19.1): the people per step and segment, no durations. Kept, unchanged, so
# both yardsticks can be timed in one run (bench.statements --reports
# funnel,funnel_counts). $text(json): a JSON string is its own text, any other
# value its JSON text.
FUNNEL_COUNTS_SQL = _FUNNEL_CHAIN_STEPS + """chains AS (
    SELECT person_id, sv,
           1 + (t1 IS NOT NULL)::INT + (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT AS level
    FROM c3
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY level DESC, t0, seq0) = 1
),
kept AS (
    SELECT sv FROM chains WHERE sv IS NOT NULL GROUP BY sv ORDER BY count(*) DESC, sv LIMIT $limit
)
SELECT k.sv AS segment,
       count(*) FILTER (WHERE c.level > 0) AS p0, count(*) FILTER (WHERE c.level > 1) AS p1,
       count(*) FILTER (WHERE c.level > 2) AS p2, count(*) FILTER (WHERE c.level > 3) AS p3
FROM chains c LEFT JOIN kept k ON k.sv = c.sv
GROUP BY ROLLUP (k.sv)
ORDER BY GROUPING(k.sv) DESC, p0 DESC, k.sv NULLS LAST
"""

COHORT_SQL = """
WITH firsts AS (
    SELECT person_id, min(ts) AS t0 FROM events WHERE name = $cohort GROUP BY person_id
),
members AS (
    SELECT person_id, t0, date_trunc('week', t0) AS row_start FROM firsts WHERE t0 >= $from AND t0 < $to
),
returns AS (
    SELECT DISTINCT m.person_id, m.row_start,
           (epoch_us(e.ts) - epoch_us(m.t0)) // ($bucket::BIGINT * 1000000) AS n
    FROM members m JOIN events e ON e.person_id = m.person_id AND e.name = $return
    WHERE e.ts >= m.t0 AND e.ts < m.t0 + to_seconds($bucket::BIGINT * $buckets)
),
sizes AS (SELECT row_start, count(*) AS size FROM members GROUP BY row_start),
cells AS (SELECT row_start, n, count(*) AS people FROM returns GROUP BY row_start, n)
SELECT s.row_start, s.size, list(c.n ORDER BY c.n) FILTER (WHERE c.n IS NOT NULL) AS ns,
       list(c.people ORDER BY c.n) FILTER (WHERE c.n IS NOT NULL) AS people
FROM sizes s LEFT JOIN cells c ON c.row_start = s.row_start
GROUP BY s.row_start, s.size ORDER BY s.row_start
"""

REVENUE_SUMMARY_SQL = """
WITH in_range AS (
    SELECT person_id, ts, revenue FROM events WHERE revenue IS NOT NULL AND ts >= $from AND ts < $to
)
SELECT coalesce(sum(revenue), 0) AS total,
       coalesce(sum(revenue) FILTER (WHERE revenue > 0), 0) AS gross,
       coalesce(sum(revenue) FILTER (WHERE revenue < 0), 0) AS refunds,
       count(DISTINCT person_id) FILTER (WHERE revenue > 0) AS paying
FROM in_range
"""

REVENUE_SERIES_SQL = """
WITH in_range AS (
    SELECT person_id, ts, revenue FROM events WHERE revenue IS NOT NULL AND ts >= $from AND ts < $to
),
periods AS (
    SELECT unnest(generate_series(date_trunc('month', $from::TIMESTAMP), $to::TIMESTAMP - INTERVAL 1 MICROSECOND,
                                  INTERVAL 1 MONTH)) AS start
),
per AS (
    SELECT date_trunc('month', ts) AS start, sum(revenue) AS total,
           sum(revenue) FILTER (WHERE revenue > 0) AS gross, sum(revenue) FILTER (WHERE revenue < 0) AS refunds,
           count(DISTINCT person_id) FILTER (WHERE revenue > 0) AS paying
    FROM in_range GROUP BY 1
)
SELECT p.start, coalesce(x.total, 0), coalesce(x.gross, 0), coalesce(x.refunds, 0), coalesce(x.paying, 0)
FROM periods p LEFT JOIN per x ON x.start = p.start ORDER BY p.start
"""

REVENUE_SOURCES_SQL = """
WITH in_range AS (
    SELECT person_id, ts, revenue FROM events WHERE revenue IS NOT NULL AND ts >= $from AND ts < $to
),
payers AS (SELECT DISTINCT person_id FROM in_range),
candidates AS (
    SELECT c.person_id, c."at", 0 AS kind, c.seq, c.value AS v
    FROM property_changes c SEMI JOIN payers p ON p.person_id = c.person_id
    WHERE c.key = $key AND c.value IS NOT NULL AND json_type(c.value) <> 'NULL'
    UNION ALL
    SELECT e.person_id, e.ts, 1, e.seq, (e.properties -> $prop)
    FROM events e SEMI JOIN payers p ON p.person_id = e.person_id
    WHERE (e.properties -> $prop) IS NOT NULL AND json_type(e.properties -> $prop) <> 'NULL'
),
source AS (
    SELECT person_id, CASE WHEN json_type(v) = 'VARCHAR' THEN v ->> '$' ELSE CAST(v AS VARCHAR) END AS value
    FROM candidates
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY "at", kind, seq) = 1
)
SELECT s.value, sum(r.revenue) AS total, count(DISTINCT r.person_id) FILTER (WHERE r.revenue > 0) AS paying
FROM in_range r LEFT JOIN source s ON s.person_id = r.person_id
GROUP BY s.value ORDER BY total DESC, s.value NULLS LAST
"""


def connect(csv_paths: dict[str, Path], threads: int | None = None):
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(LOAD_SQL.format(events=csv_paths["events"], property_changes=csv_paths["property_changes"]))
    return con


def _naive(ts: datetime) -> datetime:
    return ts.replace(tzinfo=None) if ts.tzinfo else ts


def _params(steps: list[str], from_: datetime, to: datetime, window_seconds: int, prop: str, limit: int) -> dict:
    return {"s0": steps[0], "s1": steps[1], "s2": steps[2], "s3": steps[3], "from": _naive(from_), "to": _naive(to),
            "window": window_seconds, "prop": f"$.\"{prop}\"", "limit": limit}


def funnel(con, steps: list[str], from_: datetime, to: datetime, window_seconds: int, prop: str, limit: int):
    """The whole answer, computed by FUNNEL_SQL in DuckDB (Python only
    reshapes its rows): {"steps": [step], "segments": {value: {"steps": [step],
    "conversion_rate"}}} (value None: the rest), a step being {"people",
    "dropped_off", "conversion_from_previous", "conversion_from_start",
    "time_from_previous": None (step 0, or nobody reached it) or {"count",
    "mean_seconds", "median_seconds", "p90_seconds", "histogram": [people per
    bucket, 7]}}. Four steps (FUNNEL_SQL's shape)."""
    rows = con.execute(FUNNEL_SQL, _params(steps, from_, to, window_seconds, prop, limit)).fetchall()

    def group(row) -> list[dict]:
        _, _, people, dropped, prev, start, _, ks, n, mean, median, p90, histogram = row
        timing = {k: {"count": c, "mean_seconds": a, "median_seconds": m, "p90_seconds": q, "histogram": list(h)}
                  for k, c, a, m, q, h in zip(ks or [], n or [], mean or [], median or [], p90 or [], histogram or [])}
        return [{"people": people[k], "dropped_off": dropped[k], "conversion_from_previous": prev[k],
                 "conversion_from_start": start[k], "time_from_previous": timing.get(k)} for k in range(len(people))]

    total = rows[0]
    return {"steps": group(total),
            "segments": {r[1]: {"steps": group(r), "conversion_rate": r[6]} for r in rows[1:]}}


def funnel_counts(con, steps: list[str], from_: datetime, to: datetime, window_seconds: int, prop: str, limit: int):
    """The counts-only yardstick (FUNNEL_COUNTS_SQL): {"steps": [people per
    step], "segments": {value: [people per step]}} (value None: the rest)."""
    rows = con.execute(FUNNEL_COUNTS_SQL, _params(steps, from_, to, window_seconds, prop, limit)).fetchall()
    total = rows[0]
    return {"steps": list(total[1:]), "segments": {r[0]: list(r[1:]) for r in rows[1:]}}


def people_counts(answer: dict) -> dict:
    """funnel()'s answer in funnel_counts()' shape (the people alone)."""
    return {"steps": [s["people"] for s in answer["steps"]],
            "segments": {v: [s["people"] for s in g["steps"]] for v, g in answer["segments"].items()}}


def cohort(con, cohort_event: str, return_event: str, from_: datetime, to: datetime, bucket_seconds: int,
           buckets: int):
    """[(row start, size, [people per cell 0..buckets-1])]"""
    rows = con.execute(COHORT_SQL, {
        "cohort": cohort_event, "return": return_event, "from": _naive(from_), "to": _naive(to),
        "bucket": bucket_seconds, "buckets": buckets,
    }).fetchall()
    out = []
    for start, size, ns, people in rows:
        cells = [0] * buckets
        for n, p in zip(ns or [], people or []):
            cells[n] = p
        out.append((start, size, cells))
    return out


def revenue(con, from_: datetime, to: datetime, prop: str):
    params = {"from": _naive(from_), "to": _naive(to)}
    total, gross, refunds, paying = con.execute(REVENUE_SUMMARY_SQL, params).fetchone()
    series = [(r[0], Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), r[4])
              for r in con.execute(REVENUE_SERIES_SQL, params).fetchall()]
    sources = [(r[0], Decimal(r[1]), r[2])
               for r in con.execute(REVENUE_SOURCES_SQL, {**params, "key": prop, "prop": f"$.\"{prop}\""}).fetchall()]
    return {"total": Decimal(total), "gross": Decimal(gross), "refunds": Decimal(refunds), "paying": paying,
            "series": series, "sources": sources}


# Lifecycle (DESIGN.md §5): each person's active periods before `to`, lag/lead
# over them, statuses per period of the range. {unit}/{step}: the period.
LIFECYCLE_SQL = """
WITH active AS (
    SELECT DISTINCT person_id, date_trunc('{unit}', ts) AS p FROM events WHERE name = $event AND ts < $to
),
marked AS (
    SELECT person_id, p, lag(p) OVER w AS prev, lead(p) OVER w AS next
    FROM active WINDOW w AS (PARTITION BY person_id ORDER BY p)
),
statuses AS (
    SELECT p AS period,
           CASE WHEN prev IS NULL THEN 'NEW' WHEN prev = p - INTERVAL {step} THEN 'RETURNING'
                ELSE 'RESURRECTING' END AS status
    FROM marked WHERE p >= $first AND p <= $last
    UNION ALL
    SELECT p + INTERVAL {step}, 'DORMANT' FROM marked
    WHERE (next IS NULL OR next > p + INTERVAL {step})
      AND p + INTERVAL {step} >= $first AND p + INTERVAL {step} <= $last
)
SELECT period, count(*) FILTER (WHERE status = 'NEW'), count(*) FILTER (WHERE status = 'RETURNING'),
       count(*) FILTER (WHERE status = 'RESURRECTING'), count(*) FILTER (WHERE status = 'DORMANT')
FROM statuses GROUP BY period ORDER BY period
"""

_LIFECYCLE_STEP = {"hour": "1 HOUR", "day": "1 DAY", "week": "7 DAY", "month": "1 MONTH"}


def lifecycle(con, event: str, from_: datetime, to: datetime, unit: str, first: datetime, last: datetime):
    """[(period start, new, returning, resurrecting, dormant)] for periods with anyone."""
    sql = LIFECYCLE_SQL.format(unit=unit, step=_LIFECYCLE_STEP[unit])
    rows = con.execute(sql, {"event": event, "to": _naive(to), "first": _naive(first), "last": _naive(last)}).fetchall()
    return [tuple(r) for r in rows]


# Paths from a start event (DESIGN.md §5): each person's events in range from
# their first start on, in (ts, name) order, consecutive equal names one step.
PATHS_SQL = """
WITH anchors AS (
    SELECT person_id, min(ts) AS t0 FROM events WHERE name = $anchor AND ts >= $from AND ts < $to GROUP BY person_id
),
walk AS (
    SELECT e.person_id, e.ts, e.name FROM events e JOIN anchors a ON a.person_id = e.person_id
    WHERE e.ts >= $from AND e.ts < $to AND (e.ts > a.t0 OR (e.ts = a.t0 AND e.name >= $anchor))
),
c AS (
    SELECT person_id, ts, name,
           name IS DISTINCT FROM lag(name) OVER (PARTITION BY person_id ORDER BY ts, name) AS starts
    FROM walk
),
n AS (
    SELECT person_id, name, starts,
           count(*) FILTER (WHERE starts) OVER (PARTITION BY person_id ORDER BY ts, name ROWS UNBOUNDED PRECEDING) AS n
    FROM c
),
steps AS (SELECT person_id, n - 1 AS step, name FROM n WHERE starts AND n <= $depth + 1),
kept AS (
    SELECT step, name FROM (
        SELECT step, name, row_number() OVER (PARTITION BY step ORDER BY count(*) DESC, name) AS r
        FROM steps GROUP BY step, name
    ) WHERE r <= $limit
),
folded AS (SELECT s.person_id, s.step, k.name FROM steps s LEFT JOIN kept k ON k.step = s.step AND k.name = s.name)
SELECT 'node', step, name, NULL, count(*) FROM folded GROUP BY step, name
UNION ALL
SELECT 'link', a.step, a.name, b.name, count(*)
FROM folded a JOIN folded b ON b.person_id = a.person_id AND b.step = a.step + 1
GROUP BY a.step, a.name, b.name
"""


def paths(con, start_event: str, from_: datetime, to: datetime, depth: int, limit: int):
    """{"nodes": [(step, event, people)], "links": [(fromStep, source, target, people)]} in DESIGN's orders."""
    rows = con.execute(PATHS_SQL, {"anchor": start_event, "from": _naive(from_), "to": _naive(to),
                                   "depth": depth, "limit": limit}).fetchall()

    def name(v):
        return (v is None, v or "")

    nodes = sorted(((s, a, n) for kind, s, a, _, n in rows if kind == "node"), key=lambda x: (x[0], -x[2], name(x[1])))
    links = sorted(((s, a, b, n) for kind, s, a, b, n in rows if kind == "link"),
                   key=lambda x: (x[0], -x[3], name(x[1]), name(x[2])))
    return {"nodes": nodes, "links": links}
# ---------------------------------------------------------------- trends and stickiness
# The same semantics (DESIGN.md §5 "Trends", "Stickiness"), for the series
# bench/statements.py runs: a value is a JSON string's text or the JSON text
# of anything else; a numeric property is a JSON number or a numeric string;
# person properties are the persons' current ones (persons.csv).

PERSONS_SQL = """
CREATE OR REPLACE TABLE persons AS
  SELECT id::UUID AS id, properties::JSON AS properties
  FROM read_csv('{persons}', header = true, all_varchar = true)
  WHERE coalesce(merged_into, '') = '';
"""


def _text(json: str) -> str:
    return f"CASE WHEN json_type({json}) = 'VARCHAR' THEN {json} ->> '$' ELSE CAST({json} AS VARCHAR) END"


def _numeric(json: str) -> str:
    return (f"CASE WHEN json_type({json}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(CAST({json} AS VARCHAR)"
            f" AS DECIMAL(38, 10)) WHEN json_type({json}) = 'VARCHAR' THEN TRY_CAST({json} ->> '$' AS DECIMAL(38, 10))"
            " END")


def trends(con, series: list[dict], from_: datetime, to: datetime, interval: str, person_property: str | None,
           limit: int = 10):
    """[(series index, breakdown value, total, [(start, value) of the periods with events])], in the report's
    order; series: [{"event", "math": TOTAL | PEOPLE | SUM, "property"}]; breakdown by a person property or none."""
    if not any(
        r[0] for r in con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'persons'").fetchall()
    ):
        raise RuntimeError("persons not loaded: connect_persons(con, paths) first")
    unit = interval.lower()
    branches = []
    for i, s in enumerate(series):
        amount = _numeric(f"e.properties -> '$.\"{s['property']}\"'") if s.get("property") else "NULL"
        bvalue = _text(f"p.properties -> '$.\"{person_property}\"'") if person_property else "NULL"
        branches.append(
            f"SELECT {i} AS series, e.person_id, date_trunc('{unit}', e.ts) AS start,"
            f" CAST({amount} AS DECIMAL(38, 10)) AS value, CAST({bvalue} AS VARCHAR) AS bvalue"
            f" FROM events e JOIN persons p ON p.id = e.person_id"
            f" WHERE e.name = '{s['event']}' AND e.ts >= $from AND e.ts < $to")
    sql = f"""
    WITH matched AS ({' UNION ALL '.join(branches)}),
    ranked AS (
        SELECT series, bvalue, rank FROM (
            SELECT series, bvalue, row_number() OVER (PARTITION BY series ORDER BY count(*) DESC, bvalue) AS rank
            FROM matched WHERE bvalue IS NOT NULL GROUP BY series, bvalue) WHERE rank <= {int(limit)}
    )
    SELECT m.series, r.rank, r.bvalue, m.start, GROUPING(m.start) AS is_total,
           count(*) AS events, count(DISTINCT m.person_id) AS people, sum(m.value) AS total
    FROM matched m LEFT JOIN ranked r ON r.series = m.series AND r.bvalue = m.bvalue
    GROUP BY GROUPING SETS ((m.series, r.rank, r.bvalue, m.start), (m.series, r.rank, r.bvalue))
    """
    rows = con.execute(sql, {"from": _naive(from_), "to": _naive(to)}).fetchall()

    def value(row, math):
        n, people, total = row[5], row[6], row[7]
        return float(n) if math == "TOTAL" else float(people) if math == "PEOPLE" else float(total or 0)

    out: dict[tuple, list] = {}
    for row in rows:
        math = series[row[0]]["math"]
        entry = out.setdefault((row[0], row[1] is None, row[1] or 0, row[2]), [None, []])
        if row[4]:
            entry[0] = value(row, math)
        elif value(row, math):
            entry[1].append((row[3], value(row, math)))
    return [(k[0], k[3], total, sorted(points)) for k, (total, points) in sorted(out.items(), key=lambda kv: kv[0][:3])]


def connect_persons(con, csv_paths: dict[str, Path]) -> None:
    con.execute(PERSONS_SQL.format(persons=csv_paths["persons"]))


STICKINESS_SQL = """
WITH active AS (
    SELECT DISTINCT person_id, date_trunc($unit, ts) AS period FROM events
    WHERE name = $event AND ts >= $from AND ts < $to
),
per_person AS (SELECT person_id, count(*) AS n FROM active GROUP BY person_id)
SELECT n, count(*) FROM per_person GROUP BY n ORDER BY n
"""


def stickiness(con, event: str, from_: datetime, to: datetime, interval: str) -> dict[int, int]:
    """{n: people active in exactly n periods} (n with nobody left out)."""
    rows = con.execute(STICKINESS_SQL, {"unit": interval.lower(), "event": event, "from": _naive(from_),
                                        "to": _naive(to)}).fetchall()
    return {n: people for n, people in rows}

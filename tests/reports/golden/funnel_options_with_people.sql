WITH RECURSIVE
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $12::text) AND whodid_text(p.properties -> $12::text) = whodid_text(($13::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $14::text AND e.ts >= $15::timestamptz AND e.ts < $16::timestamptz)
),
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, f.times[1] AS t0, f.times[2] AS t1, f.times[3] AS t2, p.svs[f.start_idx] AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks,
               array_agg(CASE WHEN (m.mask & 1) = 1 THEN m.sv END ORDER BY m.ts, m.seq) AS svs,
               array_agg(m.hv ORDER BY m.ts, m.seq) AS hvs
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event. The aggregates still say ORDER BY: the arrays' order must
            -- not depend on the plan.
            SELECT e.person_id, e.ts, e.seq,
                   (CASE WHEN e.name = $4::text AND e.properties ? $18::text THEN 1::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) THEN 2::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $10::text THEN 4::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $19::text AND ((e.properties ? $20::text) AND whodid_text(e.properties -> $20::text) = whodid_text(($21::text)::jsonb)) AND (whodid_numeric(e.properties -> $22::text) > whodid_numeric(($23::text)::jsonb)) THEN 8::bigint ELSE 0::bigint END) AS mask, coalesce(e.properties ->> $11::text, CASE WHEN e.properties ? $11::text THEN 'null' END) AS sv, coalesce(e.properties ->> $18::text, CASE WHEN e.properties ? $18::text THEN 'null' END) AS hv
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY($17::text[])
              AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
              AND e.person_id IN (SELECT pp.id FROM population pp)
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL whodid_funnel_chain_options(
        p.tss, p.masks, p.hvs, $24::int, $25::bigint,
        $26::boolean, $27::boolean,
        $28::int[], $29::int[]) f
    WHERE NOT f.excluded
),
counts AS (SELECT c.sv, count(*) AS n FROM chains c GROUP BY c.sv),
kept AS (
    SELECT c.sv, row_number() OVER (ORDER BY c.n DESC, c.sv COLLATE "C") AS segrank
    FROM counts c WHERE c.sv IS NOT NULL
    ORDER BY c.n DESC, c.sv COLLATE "C" LIMIT $30::int
),
lab AS NOT MATERIALIZED (
    SELECT c.*, coalesce(k.segrank, 0) AS segrank FROM chains c LEFT JOIN kept k ON k.sv = c.sv
),
segstats AS MATERIALIZED (
    SELECT d.k, d.segrank, count(*) AS n, sum(d.d) AS total, array_agg(d.d ORDER BY d.d) AS sorted,
           count(*) FILTER (WHERE d.d <= interval '60 seconds') AS h0,
           count(*) FILTER (WHERE d.d > interval '60 seconds' AND d.d <= interval '600 seconds') AS h1,
           count(*) FILTER (WHERE d.d > interval '600 seconds' AND d.d <= interval '3600 seconds') AS h2,
           count(*) FILTER (WHERE d.d > interval '3600 seconds' AND d.d <= interval '86400 seconds') AS h3,
           count(*) FILTER (WHERE d.d > interval '86400 seconds' AND d.d <= interval '604800 seconds') AS h4,
           count(*) FILTER (WHERE d.d > interval '604800 seconds' AND d.d <= interval '2592000 seconds') AS h5,
           count(*) FILTER (WHERE d.d > interval '2592000 seconds') AS h6
    FROM (SELECT l.segrank, 1 AS k, l.t1 - l.t0 AS d FROM lab l WHERE l.level > 1
      UNION ALL SELECT l.segrank, 2 AS k, l.t2 - l.t1 AS d FROM lab l WHERE l.level > 2) d
    GROUP BY d.k, d.segrank
),
allstats AS MATERIALIZED (
    SELECT g.k, sum(g.n)::bigint AS n, sum(g.total) AS total, sum(g.h0)::bigint AS h0, sum(g.h1)::bigint AS h1, sum(g.h2)::bigint AS h2, sum(g.h3)::bigint AS h3, sum(g.h4)::bigint AS h4, sum(g.h5)::bigint AS h5, sum(g.h6)::bigint AS h6,
           min(g.sorted[1]) AS lo, max(g.sorted[g.n::int]) AS hi
    FROM segstats g GROUP BY g.k
),
search (k, i, pos, lo, hi) AS (
    SELECT a.k, r.i, r.pos, (extract(epoch FROM a.lo) * 1000000)::bigint - 1,
           (extract(epoch FROM a.hi) * 1000000)::bigint
    FROM allstats a CROSS JOIN LATERAL (VALUES (1, (a.n - 1) / 2 + 1), (2, a.n / 2 + 1), (3, floor(0.9::float8 * (a.n - 1)::float8)::bigint + 1),
                                               (4, least(floor(0.9::float8 * (a.n - 1)::float8)::bigint + 2, a.n))) r(i, pos)
    UNION ALL
    SELECT s.k, s.i, s.pos,
           CASE WHEN c.le >= s.pos THEN s.lo ELSE (s.lo + s.hi) / 2 END,
           CASE WHEN c.le >= s.pos THEN (s.lo + s.hi) / 2 ELSE s.hi END
    FROM search s CROSS JOIN LATERAL (
        SELECT sum(width_bucket(((s.lo + s.hi) / 2) * interval '1 microsecond', g.sorted)) AS le
        FROM segstats g WHERE g.k = s.k
    ) c
    WHERE s.hi - s.lo > 1
)
SELECT 0 AS kind, GROUPING(r.segrank) AS overall, r.segrank, 0 AS k, coalesce(sum(r.n), 0)::bigint AS n,
       NULL::numeric AS total, NULL::numeric AS med_lo, NULL::numeric AS med_hi,
       NULL::numeric AS p90_lo, NULL::numeric AS p90_hi, NULL::bigint[] AS histogram, NULL::text AS value,
       NULL::bytea AS ids, NULL::bytea AS levels, NULL::bytea AS segments, NULL::bytea AS times
FROM (SELECT coalesce(k.segrank, 0) AS segrank, c.n FROM counts c LEFT JOIN kept k ON k.sv = c.sv) r
GROUP BY GROUPING SETS ((r.segrank), ())
UNION ALL
SELECT 1, 0, g.segrank, g.k, g.n, extract(epoch FROM g.total),
       extract(epoch FROM g.sorted[(g.n::int - 1) / 2 + 1]),
       extract(epoch FROM g.sorted[g.n::int / 2 + 1]),
       extract(epoch FROM g.sorted[floor(0.9::float8 * (g.n - 1)::float8)::int + 1]),
       extract(epoch FROM g.sorted[least(floor(0.9::float8 * (g.n - 1)::float8)::int + 2, g.n::int)]),
       ARRAY[g.h0, g.h1, g.h2, g.h3, g.h4, g.h5, g.h6], NULL, NULL, NULL, NULL, NULL
FROM segstats g
UNION ALL
SELECT 1, 1, NULL, a.k, a.n, extract(epoch FROM a.total),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 1) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 2) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 3) * interval '1 microsecond'),
       extract(epoch FROM max(f.us) FILTER (WHERE f.i = 4) * interval '1 microsecond'),
       ARRAY[a.h0, a.h1, a.h2, a.h3, a.h4, a.h5, a.h6], NULL, NULL, NULL, NULL, NULL
FROM allstats a JOIN (SELECT s.k, s.i, s.hi AS us FROM search s WHERE s.hi - s.lo <= 1) f ON f.k = a.k
GROUP BY a.k, a.n, a.total, a.h0, a.h1, a.h2, a.h3, a.h4, a.h5, a.h6
UNION ALL
SELECT 2, 0, k.segrank, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, k.sv, NULL, NULL, NULL, NULL FROM kept k
UNION ALL
SELECT 3, 0, 0, 0, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       string_agg(uuid_send(l.person_id), ''::bytea),
       string_agg(int2send(l.level::int2), ''::bytea),
       string_agg(int2send(l.segrank::int2), ''::bytea),
       string_agg(coalesce(timestamptz_send(l.t0 + interval '946684800 seconds'), '\x0000000000000000'::bytea) || coalesce(timestamptz_send(l.t1 + interval '946684800 seconds'), '\x0000000000000000'::bytea) || coalesce(timestamptz_send(l.t2 + interval '946684800 seconds'), '\x0000000000000000'::bytea), ''::bytea)
FROM lab l

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Viewed'
-- $5: 'Added'
-- $6: 'Plan'
-- $7: '"pro"'
-- $8: 'Items'
-- $9: '2'
-- $10: 'Bought'
-- $11: 'Source'
-- $12: 'Country'
-- $13: '"FR"'
-- $14: 'Signed Up'
-- $15: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $16: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $17: ['Added', 'Bought', 'Refunded', 'Viewed']
-- $18: 'Plan'
-- $19: 'Refunded'
-- $20: 'Plan'
-- $21: '"pro"'
-- $22: 'Items'
-- $23: '2'
-- $24: 3
-- $25: 3600
-- $26: False
-- $27: True
-- $28: [0]
-- $29: [2]
-- $30: 3

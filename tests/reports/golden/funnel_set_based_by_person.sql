WITH RECURSIVE
w AS (
    SELECT m.person_id, m.ts, m.seq, m.k,
           min(m.ts) FILTER (WHERE m.k = 1) OVER later AS n1,
           min(m.ts) FILTER (WHERE m.k = 2) OVER later AS n2
    FROM (
        (SELECT e.person_id, e.ts, e.seq, 0 AS k FROM events e
         JOIN (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS last1 FROM events e
               WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
               ORDER BY e.person_id, e.ts DESC) l ON l.person_id = e.person_id AND e.ts <= l.last1
         WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 1 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 2 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $10::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
         ORDER BY e.person_id, e.ts DESC)
    ) m
    WINDOW later AS (PARTITION BY m.person_id ORDER BY m.ts DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
s1 AS (
    SELECT w.person_id, w.ts AS t0, w.seq, w.n1 AS t1, w.n2
    FROM w WHERE w.k < 1
),
s2 AS (
    SELECT s.*,
           CASE WHEN s.t1 IS NULL OR s.n2 IS NULL THEN NULL
                WHEN s.n2 >= s.t1 THEN s.n2
                ELSE (SELECT min(e.ts) FROM events e
                      WHERE e.project_id = $1 AND e.name = $10::text AND e.person_id = s.person_id
                        AND e.ts >= s.t1 AND e.ts < $3::timestamptz)
           END AS t2
    FROM s1 s
    OFFSET 0
),
chained AS (
    SELECT DISTINCT ON (s.person_id) s.person_id, s.level, s.t0, s.t1, s.t2, s.seq
    FROM (SELECT s.*, 1 + (s.t1 IS NOT NULL)::int + (s.t2 IS NOT NULL)::int AS level FROM s2 s) s
    ORDER BY s.person_id, s.level DESC, s.t0, s.seq
),
lone AS (
    SELECT f.person_id, 1 AS level, f.t0, NULL::timestamptz AS t1, NULL::timestamptz AS t2, f.seq
    FROM (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS t0, e.seq FROM events e
          WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
          ORDER BY e.person_id DESC, e.ts, e.seq) f
    WHERE NOT EXISTS (SELECT FROM events e
                      WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id = f.person_id AND e.ts >= f.t0)
),
best AS (SELECT * FROM chained UNION ALL SELECT * FROM lone),
svs AS MATERIALIZED (
    SELECT pr.id, coalesce(pr.properties ->> $11::text, CASE WHEN pr.properties ? $11::text THEN 'null' END) AS sv FROM persons pr
    WHERE pr.project_id = $1 AND pr.properties ? $11::text
),
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, b.t0, CASE WHEN b.level > 1 THEN b.t1 END AS t1, CASE WHEN b.level > 2 THEN b.t2 END AS t2, x.sv
    FROM best b LEFT JOIN svs x ON x.id = b.person_id
),
counts AS (SELECT c.sv, count(*) AS n FROM chains c GROUP BY c.sv),
kept AS (
    SELECT c.sv, row_number() OVER (ORDER BY c.n DESC, c.sv COLLATE "C") AS segrank
    FROM counts c WHERE c.sv IS NOT NULL
    ORDER BY c.n DESC, c.sv COLLATE "C" LIMIT $12::int
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
-- $11: 'Country'
-- $12: 5

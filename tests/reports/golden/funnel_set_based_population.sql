WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $11::text) AND whodid_text(p.properties -> $11::text) = whodid_text(($12::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $13::text AND e.ts >= $14::timestamptz AND e.ts < $15::timestamptz)
),
w AS (
    SELECT m.person_id, m.ts, m.seq, m.k,
           min(m.ts) FILTER (WHERE m.k = 1) OVER later AS n1,
           min(m.ts) FILTER (WHERE m.k = 2) OVER later AS n2
    FROM (
        (SELECT e.person_id, e.ts, e.seq, 0 AS k FROM events e
         JOIN (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS last1 FROM events e
               WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp)
               ORDER BY e.person_id, e.ts DESC) l ON l.person_id = e.person_id AND e.ts <= l.last1
         WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp)
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 1 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp)
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 2 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $10::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp)
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
          WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp)
          ORDER BY e.person_id DESC, e.ts, e.seq) f
    WHERE NOT EXISTS (SELECT FROM events e
                      WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id IN (SELECT pp.id FROM population pp) AND e.person_id = f.person_id AND e.ts >= f.t0)
),
best AS (SELECT * FROM chained UNION ALL SELECT * FROM lone),
chains AS MATERIALIZED (SELECT b.person_id, b.level, b.t0, CASE WHEN b.level > 1 THEN b.t1 END AS t1, CASE WHEN b.level > 2 THEN b.t2 END AS t2, NULL::text AS sv FROM best b),
lab AS (SELECT c.*, 0::bigint AS segrank FROM chains c)
SELECT 0 AS kind, 1 AS overall, l.segrank, 0 AS k, count(*) AS n,
       NULL::numeric AS total, NULL::numeric AS med_lo, NULL::numeric AS med_hi,
       NULL::numeric AS p90_lo, NULL::numeric AS p90_hi, NULL::bigint[] AS histogram, NULL::text AS value,
       NULL::bytea AS ids, NULL::bytea AS levels, NULL::bytea AS segments, NULL::bytea AS times
FROM lab l GROUP BY l.segrank
UNION ALL
SELECT 1, 1, d.segrank, d.k, count(*),
       extract(epoch FROM sum(d.d)),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[(count(*)::int - 1) / 2 + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[count(*)::int / 2 + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[floor(0.9::float8 * (count(*) - 1)::float8)::int + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[least(floor(0.9::float8 * (count(*) - 1)::float8)::int + 2, count(*)::int)]),
       ARRAY[count(*) FILTER (WHERE d.d <= interval '60 seconds'), count(*) FILTER (WHERE d.d > interval '60 seconds' AND d.d <= interval '600 seconds'), count(*) FILTER (WHERE d.d > interval '600 seconds' AND d.d <= interval '3600 seconds'), count(*) FILTER (WHERE d.d > interval '3600 seconds' AND d.d <= interval '86400 seconds'), count(*) FILTER (WHERE d.d > interval '86400 seconds' AND d.d <= interval '604800 seconds'), count(*) FILTER (WHERE d.d > interval '604800 seconds' AND d.d <= interval '2592000 seconds'), count(*) FILTER (WHERE d.d > interval '2592000 seconds')],
       NULL, NULL, NULL, NULL, NULL
FROM (SELECT l.segrank, 1 AS k, l.t1 - l.t0 AS d FROM lab l WHERE l.level > 1
      UNION ALL SELECT l.segrank, 2 AS k, l.t2 - l.t1 AS d FROM lab l WHERE l.level > 2) d
GROUP BY d.k, d.segrank

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
-- $12: '"FR"'
-- $13: 'Signed Up'
-- $14: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $15: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)

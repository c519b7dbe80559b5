WITH
w AS (
    SELECT m.person_id, m.ts, m.seq, m.k,
           min(m.ts) FILTER (WHERE m.k = 1) OVER later AS n1,
           min(m.ts) FILTER (WHERE m.k = 2) OVER later AS n2
    FROM (
        (SELECT e.person_id, e.ts, e.seq, 0 AS k FROM events e
         JOIN (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS last1 FROM events e
               WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
               ORDER BY e.person_id, e.ts DESC) l ON l.person_id = e.person_id AND e.ts <= l.last1
         WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 1 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
         ORDER BY e.person_id, e.ts DESC)
        UNION ALL
        (SELECT e.person_id, e.ts, e.seq, 2 AS k FROM events e
         WHERE e.project_id = $1 AND e.name = $10::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
         ORDER BY e.person_id, e.ts DESC)
    ) m
    WINDOW later AS (PARTITION BY m.person_id ORDER BY m.ts DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
s1 AS (
    SELECT w.person_id, w.ts AS t0, w.seq, w.n1 AS t1, w.n2, w.ts + $12::bigint * interval '1 second' AS dl
    FROM w WHERE w.k < 1
),
s2 AS (
    SELECT s.*,
           CASE WHEN s.t1 IS NULL OR s.t1 > s.dl OR s.n2 IS NULL THEN NULL
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
    FROM (SELECT s.*, 1 + coalesce((s.t1 <= s.dl)::int, 0) + coalesce((s.t2 <= s.dl)::int, 0) AS level FROM s2 s) s
    ORDER BY s.person_id, s.level DESC, s.t0, s.seq
),
lone AS (
    SELECT f.person_id, 1 AS level, f.t0, NULL::timestamptz AS t1, NULL::timestamptz AS t2, f.seq
    FROM (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS t0, e.seq FROM events e
          WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
          ORDER BY e.person_id DESC, e.ts, e.seq) f
    WHERE NOT EXISTS (SELECT FROM events e
                      WHERE e.project_id = $1 AND e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid AND e.person_id = f.person_id AND e.ts >= f.t0)
),
best AS (SELECT * FROM chained UNION ALL SELECT * FROM lone),
chains AS MATERIALIZED (
    SELECT b.person_id, b.level, b.t0, CASE WHEN b.level > 1 THEN b.t1 END AS t1, CASE WHEN b.level > 2 THEN b.t2 END AS t2, x.sv
    FROM best b LEFT JOIN (
        SELECT e.person_id, e.ts, e.seq, coalesce(e.properties ->> $11::text, CASE WHEN e.properties ? $11::text THEN 'null' END) AS sv FROM events e
        WHERE e.project_id = $1 AND e.name = $13::text
          AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.properties ? $11::text AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
        OFFSET 0
    ) x ON x.person_id = b.person_id AND x.ts = b.t0 AND x.seq = b.seq
)
SELECT 4 AS kind, c.sv, 0 AS k, count(*) AS n, NULL::numeric AS total, NULL::bigint[] AS histogram,
       NULL::bigint[] AS us
FROM chains c GROUP BY c.sv
UNION ALL
SELECT 5, d.sv, d.k, count(*), sum(d.us), ARRAY[count(*) FILTER (WHERE d.us <= 60000000), count(*) FILTER (WHERE d.us > 60000000 AND d.us <= 600000000), count(*) FILTER (WHERE d.us > 600000000 AND d.us <= 3600000000), count(*) FILTER (WHERE d.us > 3600000000 AND d.us <= 86400000000), count(*) FILTER (WHERE d.us > 86400000000 AND d.us <= 604800000000), count(*) FILTER (WHERE d.us > 604800000000 AND d.us <= 2592000000000), count(*) FILTER (WHERE d.us > 2592000000000)],
       array_agg(d.us ORDER BY d.us)
FROM (SELECT c.sv, 1 AS k, (extract(epoch FROM c.t1 - c.t0) * 1000000)::bigint AS us FROM chains c WHERE c.level > 1
      UNION ALL SELECT c.sv, 2 AS k, (extract(epoch FROM c.t2 - c.t1) * 1000000)::bigint AS us FROM chains c WHERE c.level > 2) d
GROUP BY d.sv, d.k

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
-- $12: 86400
-- $13: 'Viewed'

WITH
best AS (SELECT f.person_id, 1 AS level, f.t0, f.seq FROM (SELECT DISTINCT ON (e.person_id) e.person_id, e.ts AS t0, e.seq FROM events e
          WHERE e.project_id = $1 AND e.name = $4::text AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
          ORDER BY e.person_id DESC, e.ts, e.seq) f),
chains AS MATERIALIZED (SELECT b.person_id, b.level, b.t0, NULL::text AS sv FROM best b)
SELECT 4 AS kind, c.sv, 0 AS k, count(*) AS n, NULL::numeric AS total, NULL::bigint[] AS histogram,
       NULL::bigint[] AS us
FROM chains c GROUP BY c.sv

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Viewed'

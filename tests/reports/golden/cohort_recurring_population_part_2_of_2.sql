WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $8::text) AND whodid_text(p.properties -> $8::text) = whodid_text(($9::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $10::text AND e.ts >= $11::timestamptz AND e.ts < $12::timestamptz)
),
members AS (
SELECT e.person_id, min(e.ts) AS t0, date_trunc('day', e.ts AT TIME ZONE 'UTC') AS row_start,
       ARRAY[min(e.ts) + ($6::bigint * 1) * interval '1 second', min(e.ts) + ($6::bigint * 2) * interval '1 second']::timestamptz[] AS bounds
FROM events e
WHERE e.project_id = $1 AND e.name = $2 AND e.ts >= $4 AND e.ts < $5 AND e.person_id IN (SELECT pp.id FROM population pp) AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id, date_trunc('day', e.ts AT TIME ZONE 'UTC')
)
SELECT m.row_start, count(*) AS size, ARRAY[count(*) FILTER (WHERE x.m0 & (1::bigint << 0) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 1) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 2) <> 0)] AS people
FROM members m
CROSS JOIN LATERAL (
    SELECT bit_or(1::bigint << width_bucket(r.ts, m.bounds)) AS m0
    FROM events r
    WHERE r.project_id = $1 AND r.name = $3 AND r.person_id = m.person_id
      AND r.ts >= m.t0 AND r.ts < m.t0 + ($6::bigint * $7::int) * interval '1 second'
) AS x
GROUP BY m.row_start
ORDER BY m.row_start

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Signed Up'
-- $3: 'Logged In'
-- $4: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: datetime.datetime(2024, 4, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: 86400
-- $7: 3
-- $8: 'Country'
-- $9: '"FR"'
-- $10: 'Paid'
-- $11: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $12: datetime.datetime(2024, 4, 1, 0, 0, tzinfo=datetime.timezone.utc)

WITH
members AS (
SELECT e.person_id, min(e.ts) AS t0, date_trunc('week', e.ts AT TIME ZONE 'UTC') AS row_start,
       ARRAY[min(e.ts) + ($6::bigint * 1) * interval '1 second', min(e.ts) + ($6::bigint * 2) * interval '1 second', min(e.ts) + ($6::bigint * 3) * interval '1 second', min(e.ts) + ($6::bigint * 4) * interval '1 second', min(e.ts) + ($6::bigint * 5) * interval '1 second', min(e.ts) + ($6::bigint * 6) * interval '1 second', min(e.ts) + ($6::bigint * 7) * interval '1 second', min(e.ts) + ($6::bigint * 8) * interval '1 second', min(e.ts) + ($6::bigint * 9) * interval '1 second', min(e.ts) + ($6::bigint * 10) * interval '1 second', min(e.ts) + ($6::bigint * 11) * interval '1 second']::timestamptz[] AS bounds
FROM events e
WHERE e.project_id = $1 AND e.name = $2 AND e.ts >= $4 AND e.ts < $5
GROUP BY e.person_id, date_trunc('week', e.ts AT TIME ZONE 'UTC')
)
SELECT m.row_start, count(*) AS size, ARRAY[count(*) FILTER (WHERE x.m0 & (1::bigint << 0) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 1) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 2) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 3) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 4) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 5) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 6) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 7) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 8) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 9) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 10) <> 0), count(*) FILTER (WHERE x.m0 & (1::bigint << 11) <> 0)] AS people
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
-- $6: 604800
-- $7: 12

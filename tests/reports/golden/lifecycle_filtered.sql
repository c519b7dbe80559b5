WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
active AS (
SELECT e.person_id, date_trunc('month', e.ts AT TIME ZONE 'UTC') AS p
FROM events e
WHERE e.project_id = $1 AND e.name = $7::text AND e.ts < $8::timestamptz AND ((e.properties ? $9::text) AND whodid_text(e.properties -> $9::text) = whodid_text(($10::text)::jsonb)) AND (whodid_numeric(e.properties -> $11::text) > whodid_numeric(($12::text)::jsonb)) AND e.person_id IN (SELECT id FROM population)
GROUP BY 1, 2
),
marked AS (
SELECT person_id, p,
       lag(p) OVER w AS prev,
       lead(p) OVER w AS next
FROM active
WINDOW w AS (PARTITION BY person_id ORDER BY p)
),
statuses AS (
SELECT s.period, m.person_id, s.status
FROM marked m
CROSS JOIN LATERAL (VALUES
    (m.p, CASE WHEN m.prev IS NULL THEN 'NEW'
               WHEN m.prev = m.p - interval '1 month' THEN 'RETURNING'
               ELSE 'RESURRECTING' END),
    (m.p + interval '1 month', CASE WHEN m.next IS NULL OR m.next > m.p + interval '1 month' THEN 'DORMANT' END)
) AS s(period, status)
WHERE s.status IS NOT NULL AND s.period BETWEEN $13::timestamp AND $14::timestamp
)
SELECT period AT TIME ZONE 'UTC' AS start,
       count(*) FILTER (WHERE status = 'NEW') AS new,
       count(*) FILTER (WHERE status = 'RETURNING') AS returning,
       count(*) FILTER (WHERE status = 'RESURRECTING') AS resurrecting,
       count(*) FILTER (WHERE status = 'DORMANT') AS dormant
FROM statuses
GROUP BY period
ORDER BY period

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Country'
-- $3: '"FR"'
-- $4: 'Signed Up'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $7: 'Logged In'
-- $8: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: 'Plan'
-- $10: '"pro"'
-- $11: 'Items'
-- $12: '2'
-- $13: datetime.datetime(2024, 1, 1, 0, 0)
-- $14: datetime.datetime(2024, 1, 1, 0, 0)

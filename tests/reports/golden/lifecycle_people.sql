WITH
active AS (
SELECT e.person_id, date_trunc('day', e.ts AT TIME ZONE 'UTC') AS p
FROM events e
WHERE e.project_id = $1 AND e.name = $2::text AND e.ts < $3::timestamptz
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
               WHEN m.prev = m.p - interval '1 day' THEN 'RETURNING'
               ELSE 'RESURRECTING' END),
    (m.p + interval '1 day', CASE WHEN m.next IS NULL OR m.next > m.p + interval '1 day' THEN 'DORMANT' END)
) AS s(period, status)
WHERE s.status IS NOT NULL AND s.period BETWEEN $4::timestamp AND $5::timestamp
)
SELECT person_id FROM statuses
WHERE period = $6::timestamp AND status = $7::text
ORDER BY person_id
LIMIT $8

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Logged In'
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 1, 1, 0, 0)
-- $5: datetime.datetime(2024, 1, 31, 0, 0)
-- $6: datetime.datetime(2024, 1, 1, 0, 0)
-- $7: 'DORMANT'
-- $8: 51

WITH
active AS (
SELECT e.person_id, date_trunc('week', e.ts AT TIME ZONE 'UTC') AS p
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
               WHEN m.prev = m.p - interval '7 days' THEN 'RETURNING'
               ELSE 'RESURRECTING' END),
    (m.p + interval '7 days', CASE WHEN m.next IS NULL OR m.next > m.p + interval '7 days' THEN 'DORMANT' END)
) AS s(period, status)
WHERE s.status IS NOT NULL AND FALSE
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
-- $2: 'Logged In'
-- $3: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)

WITH
firsts AS (
SELECT p, older
FROM (
    SELECT p, lead(p) OVER w AS older
    FROM (
        SELECT e.person_id, e.ts, date_bin(interval '24 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') AS p
        FROM events e
        WHERE e.project_id = $1 AND e.name = $2::text AND e.ts < $3::timestamptz
    ) x
    WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) y
WHERE older IS DISTINCT FROM p
),
counts AS (
SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - interval '24 hours') AS returning,
       count(*) FILTER (WHERE older < p - interval '24 hours') AS resurrecting,
       count(*) AS active
FROM firsts
WHERE p >= $4::timestamptz - interval '24 hours'
GROUP BY p
)
SELECT c.p AS start, c.new, c.returning, c.resurrecting,
       c.active - coalesce(n.returning, 0) AS dormant_after
FROM counts c
LEFT JOIN counts n ON n.p = c.p + interval '24 hours'

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Logged In'
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)

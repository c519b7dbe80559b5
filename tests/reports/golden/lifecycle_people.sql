WITH
marked AS (
SELECT person_id, p, older, newer,
       older IS DISTINCT FROM p AS first_in_p,
       newer IS DISTINCT FROM p AS last_in_p
FROM (
    SELECT person_id, p,
           lead(p) OVER w AS older,
           lag(p) OVER w AS newer
    FROM (
        SELECT e.person_id, e.ts, date_bin(interval '24 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') AS p
        FROM events e
        WHERE e.project_id = $1 AND e.name = $2::text AND e.ts < $3::timestamptz
    ) x
    WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) y
)
SELECT person_id FROM marked
WHERE p = $4::timestamptz - interval '24 hours' AND last_in_p AND (newer IS NULL OR newer > p + interval '24 hours')
ORDER BY person_id
LIMIT $5

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Logged In'
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 51

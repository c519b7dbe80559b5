WITH
active AS (
SELECT DISTINCT e.person_id, date_trunc('day', e.ts AT TIME ZONE 'UTC') AS period
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
),
per_person AS (
SELECT person_id, count(*) AS n FROM active GROUP BY person_id
)
SELECT n, count(*) AS people FROM per_person GROUP BY n ORDER BY n

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Logged In'

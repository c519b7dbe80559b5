WITH
per_person AS (
SELECT e.person_id, count(DISTINCT date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id < '40000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, count(DISTINCT date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '40000000-0000-0000-0000-000000000000'::uuid AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, count(DISTINCT date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid AND e.person_id < 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, count(DISTINCT date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
)
SELECT n, count(*) AS people FROM per_person GROUP BY n ORDER BY n

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Logged In'

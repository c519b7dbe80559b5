WITH
per_person AS (
SELECT e.person_id, bit_count(bit_or(1::bigint << (timezone(interval '0', e.ts)::date - $4::date))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id < '40000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << (timezone(interval '0', e.ts)::date - $4::date))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '40000000-0000-0000-0000-000000000000'::uuid AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << (timezone(interval '0', e.ts)::date - $4::date))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid AND e.person_id < 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << (timezone(interval '0', e.ts)::date - $4::date))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
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
-- $4: datetime.date(2024, 1, 1)
-- $5: 'Logged In'

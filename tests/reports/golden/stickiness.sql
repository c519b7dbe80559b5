WITH
per_person AS (
SELECT e.person_id, bit_count(bit_or(1::bigint << width_bucket(e.ts, $5::timestamptz[]))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id < '40000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << width_bucket(e.ts, $5::timestamptz[]))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '40000000-0000-0000-0000-000000000000'::uuid AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << width_bucket(e.ts, $5::timestamptz[]))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid AND e.person_id < 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << width_bucket(e.ts, $5::timestamptz[]))::bit(64)) AS n
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
-- $5: [datetime.datetime(2024, 1, 2, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 3, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 4, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 5, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 6, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 7, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 8, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 9, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 10, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 11, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 12, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 13, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 14, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 15, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 16, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 17, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 18, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 19, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 20, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 21, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 22, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 23, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 24, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 25, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 26, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 27, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 28, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 29, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 30, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)]

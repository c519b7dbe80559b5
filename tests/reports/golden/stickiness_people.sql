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
),
people AS (
SELECT person_id FROM per_person WHERE n = $6
)
SELECT (SELECT count(*) FROM people) AS total,
       ARRAY(SELECT person_id FROM people
             WHERE $7::uuid IS NULL OR person_id > $7::uuid
             ORDER BY person_id LIMIT $8) AS ids

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.date(2024, 1, 1)
-- $5: 'Logged In'
-- $6: 3
-- $7: UUID('00000000-0000-0000-0000-000000000007')
-- $8: 51

WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
per_person AS (
SELECT e.person_id, bit_count(bit_or(1::bigint << ((timezone(interval '0', e.ts)::date - $9::date) / 7))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $10::text
  AND e.ts >= $7::timestamptz
  AND e.ts < $8::timestamptz
  AND ((e.properties ? $11::text) AND whodid_text(e.properties -> $11::text) = whodid_text(($12::text)::jsonb)) AND (whodid_numeric(e.properties -> $13::text) > whodid_numeric(($14::text)::jsonb))
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id < '40000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << ((timezone(interval '0', e.ts)::date - $9::date) / 7))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $10::text
  AND e.ts >= $7::timestamptz
  AND e.ts < $8::timestamptz
  AND ((e.properties ? $11::text) AND whodid_text(e.properties -> $11::text) = whodid_text(($12::text)::jsonb)) AND (whodid_numeric(e.properties -> $13::text) > whodid_numeric(($14::text)::jsonb))
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id >= '40000000-0000-0000-0000-000000000000'::uuid AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << ((timezone(interval '0', e.ts)::date - $9::date) / 7))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $10::text
  AND e.ts >= $7::timestamptz
  AND e.ts < $8::timestamptz
  AND ((e.properties ? $11::text) AND whodid_text(e.properties -> $11::text) = whodid_text(($12::text)::jsonb)) AND (whodid_numeric(e.properties -> $13::text) > whodid_numeric(($14::text)::jsonb))
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid AND e.person_id < 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
UNION ALL
SELECT e.person_id, bit_count(bit_or(1::bigint << ((timezone(interval '0', e.ts)::date - $9::date) / 7))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $10::text
  AND e.ts >= $7::timestamptz
  AND e.ts < $8::timestamptz
  AND ((e.properties ? $11::text) AND whodid_text(e.properties -> $11::text) = whodid_text(($12::text)::jsonb)) AND (whodid_numeric(e.properties -> $13::text) > whodid_numeric(($14::text)::jsonb))
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id >= 'c0000000-0000-0000-0000-000000000000'::uuid
GROUP BY e.person_id
)
SELECT n, count(*) AS people FROM per_person GROUP BY n ORDER BY n

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Country'
-- $3: '"FR"'
-- $4: 'Signed Up'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $7: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $8: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: datetime.date(2024, 1, 1)
-- $10: 'Logged In'
-- $11: 'Plan'
-- $12: '"pro"'
-- $13: 'Items'
-- $14: '2'

WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
per_person AS (
SELECT e.person_id, bit_count(bit_or(1::bigint << width_bucket(e.ts, $14::timestamptz[]))::bit(64)) AS n
FROM events e
WHERE e.project_id = $1
  AND e.name = $9::text
  AND e.ts >= $7::timestamptz
  AND e.ts < $8::timestamptz
  AND ((e.properties ? $10::text) AND whodid_text(e.properties -> $10::text) = whodid_text(($11::text)::jsonb)) AND (whodid_numeric(e.properties -> $12::text) > whodid_numeric(($13::text)::jsonb))
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
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
-- $9: 'Logged In'
-- $10: 'Plan'
-- $11: '"pro"'
-- $12: 'Items'
-- $13: '2'
-- $14: [datetime.datetime(2024, 1, 8, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 15, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 22, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 29, 0, 0, tzinfo=datetime.timezone.utc)]

WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $7::text) AND whodid_text(p.properties -> $7::text) = whodid_text(($8::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $9::text AND e.ts >= $10::timestamptz AND e.ts < $11::timestamptz)
),
in_range AS (
SELECT person_id, ts, revenue
FROM events
WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= $2 AND ts < $3 AND person_id IN (SELECT pp.id FROM population pp)
),
sums AS (
SELECT person_id, sum(revenue) AS revenue FROM in_range GROUP BY person_id
)
SELECT person_id, revenue FROM sums
WHERE $4::numeric IS NULL OR revenue < $4::numeric
   OR (revenue = $4::numeric AND person_id > $5::uuid)
ORDER BY revenue DESC, person_id
LIMIT $6

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: Decimal('-3')
-- $5: UUID('00000000-0000-0000-0000-000000000009')
-- $6: 11
-- $7: 'Country'
-- $8: '"FR"'
-- $9: 'Signed Up'
-- $10: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $11: datetime.datetime(2024, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)

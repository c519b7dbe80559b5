WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
person_values AS (
SELECT p.id, coalesce(p.properties ->> $7::text, CASE WHEN p.properties ? $7::text THEN 'null' END) COLLATE "C" AS bvalue
FROM persons p WHERE p.project_id = $1 AND p.merged_into IS NULL AND p.id >= '80000000-0000-0000-0000-000000000000'::uuid
),
marked AS (
SELECT 0 AS series, e.person_id, (date_trunc('month', e.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS start, whodid_numeric(e.properties -> $10::text) AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $11::text
  AND e.ts >= $8::timestamptz
  AND e.ts < $9::timestamptz
  AND e.person_id IN (SELECT id FROM population)
  AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
),
cells AS MATERIALIZED (
SELECT series, v.bvalue AS bvalue, start, count(*) AS events,
       count(*) FILTER (WHERE first_in_period) AS people, count(*) FILTER (WHERE first_of_person) AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM marked m
LEFT JOIN person_values v ON v.id = m.person_id
GROUP BY 1, 2, 3
)
SELECT series, bvalue, start, events, people, range_people, n_values, sum, min, max,
       NULL::numeric[] AS vals
FROM cells

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Country'
-- $3: '"FR"'
-- $4: 'Signed Up'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $7: 'Country'
-- $8: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $10: 'Items'
-- $11: 'Bought'

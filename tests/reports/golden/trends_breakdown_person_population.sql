WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
person_values AS (
SELECT p.id, whodid_text(p.properties -> $7::text) COLLATE "C" AS bvalue
FROM persons p WHERE p.project_id = $1 AND p.merged_into IS NULL
),
matched AS MATERIALIZED (
SELECT u.*, v.bvalue
FROM (
SELECT 0 AS series, e.person_id, (date_trunc('month', e.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS start, whodid_numeric(e.properties -> $10::text) AS value
FROM events e
WHERE e.project_id = $1
  AND e.name = $11::text
  AND e.ts >= $8::timestamptz
  AND e.ts < $9::timestamptz
  AND e.person_id IN (SELECT id FROM population)
) AS u
LEFT JOIN person_values v ON v.id = u.person_id
),
ranked AS (
SELECT series, bvalue, rank FROM (
  SELECT series, bvalue,
         row_number() OVER (PARTITION BY series ORDER BY count(*) DESC, bvalue) AS rank
  FROM matched
  WHERE bvalue IS NOT NULL
  GROUP BY series, bvalue
) AS r
WHERE rank <= $12
),
grouped AS (
SELECT m.series, r.rank, m.start, GROUPING(m.start) = 1 AS is_total,
       count(*) AS events,
       NULL::bigint AS people,
       count(m.value) AS n_values,
       sum(m.value) AS sum,
       min(m.value) AS min,
       max(m.value) AS max,
       NULL::numeric AS median_low,
       NULL::numeric AS median_high
FROM matched m
LEFT JOIN ranked r ON r.series = m.series AND r.bvalue = m.bvalue
GROUP BY GROUPING SETS ((m.series, r.rank, m.start), (m.series, r.rank))
)
SELECT g.*, r.bvalue FROM grouped g
LEFT JOIN ranked r ON r.series = g.series AND r.rank = g.rank

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
-- $12: 10

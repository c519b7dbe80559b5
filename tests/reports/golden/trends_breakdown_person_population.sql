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
kept AS (
SELECT series, array_agg(bvalue ORDER BY rank) AS vals FROM ranked GROUP BY series
),
tagged AS NOT MATERIALIZED (
SELECT m.series, coalesce(array_position(k.vals, m.bvalue), 0)::bigint AS rank, m.start, m.person_id, m.value
FROM matched m
LEFT JOIN kept k ON k.series = m.series
),
counts AS (
SELECT series, rank, start, count(*) AS events, count(value) AS n_values,
       sum(value) AS sum, min(value) AS min, max(value) AS max
FROM tagged
GROUP BY series, rank, start
),
answer AS (
SELECT c.series, c.rank, c.start, false AS is_total, c.events, NULL::bigint AS people, NULL::numeric AS median_low, NULL::numeric AS median_high,
       c.n_values, c.sum, c.min, c.max
FROM counts c
UNION ALL
SELECT t.series, t.rank, NULL, true, t.events, NULL::bigint AS people, NULL::numeric AS median_low, NULL::numeric AS median_high,
       t.n_values, t.sum, t.min, t.max
FROM (
  SELECT series, rank, sum(events)::bigint AS events, sum(n_values)::bigint AS n_values,
         sum(sum) AS sum, min(min) AS min, max(max) AS max
  FROM counts GROUP BY series, rank
) AS t
)
SELECT a.*, r.bvalue FROM answer a
LEFT JOIN ranked r ON r.series = a.series AND r.rank = a.rank

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

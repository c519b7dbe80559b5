WITH
matched AS MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, coalesce(e.properties ->> $4::text, CASE WHEN e.properties ? $4::text THEN 'null' END) COLLATE "C" AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb))
UNION ALL
SELECT 1 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, coalesce(e.properties ->> $4::text, CASE WHEN e.properties ? $4::text THEN 'null' END) COLLATE "C" AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $10::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
),
ranked AS (
SELECT series, bvalue, rank FROM (
  SELECT series, bvalue,
         row_number() OVER (PARTITION BY series ORDER BY count(*) DESC, bvalue) AS rank
  FROM matched
  WHERE bvalue IS NOT NULL
  GROUP BY series, bvalue
) AS r
WHERE rank <= $11
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
person_periods AS MATERIALIZED (
SELECT DISTINCT series, rank, start, person_id FROM tagged WHERE series IN (0)
),
point_people AS (
SELECT series, rank, start, count(*) AS people FROM person_periods GROUP BY series, rank, start
),
range_people AS (
SELECT series, rank, count(*) AS people
FROM (SELECT DISTINCT series, rank, person_id FROM person_periods) AS d
GROUP BY series, rank
),
answer AS (
SELECT c.series, c.rank, c.start, false AS is_total, c.events, x.people, NULL::numeric AS median_low, NULL::numeric AS median_high,
       c.n_values, c.sum, c.min, c.max
FROM counts c
LEFT JOIN point_people x ON x.series = c.series AND x.rank = c.rank AND x.start = c.start
UNION ALL
SELECT t.series, t.rank, NULL, true, t.events, x.people, NULL::numeric AS median_low, NULL::numeric AS median_high,
       t.n_values, t.sum, t.min, t.max
FROM (
  SELECT series, rank, sum(events)::bigint AS events, sum(n_values)::bigint AS n_values,
         sum(sum) AS sum, min(min) AS min, max(max) AS max
  FROM counts GROUP BY series, rank
) AS t
LEFT JOIN range_people x ON x.series = t.series AND x.rank = t.rank
)
SELECT a.*, r.bvalue FROM answer a
LEFT JOIN ranked r ON r.series = a.series AND r.rank = a.rank

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Plan'
-- $5: 'Bought'
-- $6: 'Plan'
-- $7: '"pro"'
-- $8: 'Items'
-- $9: '2'
-- $10: 'Viewed'
-- $11: 5

WITH
matched AS NOT MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
UNION ALL
SELECT 1 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $5::text) AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $6::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
UNION ALL
SELECT 2 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $7::text) AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $8::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
),
tagged AS NOT MATERIALIZED (
SELECT series, 0::bigint AS rank, start, person_id, value FROM matched
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
medians AS (
SELECT series, rank, start, GROUPING(start) = 1 AS is_total,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY value) AS median_low,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY value DESC) AS median_high
FROM tagged
WHERE series IN (2)
GROUP BY GROUPING SETS ((series, rank, start), (series, rank))
),
answer AS (
SELECT c.series, c.rank, c.start, false AS is_total, c.events, x.people, md.median_low, md.median_high,
       c.n_values, c.sum, c.min, c.max
FROM counts c
LEFT JOIN point_people x ON x.series = c.series AND x.rank = c.rank AND x.start = c.start
LEFT JOIN medians md ON md.series = c.series AND md.rank = c.rank AND md.start = c.start AND NOT md.is_total
UNION ALL
SELECT t.series, t.rank, NULL, true, t.events, x.people, md.median_low, md.median_high,
       t.n_values, t.sum, t.min, t.max
FROM (
  SELECT series, rank, sum(events)::bigint AS events, sum(n_values)::bigint AS n_values,
         sum(sum) AS sum, min(min) AS min, max(max) AS max
  FROM counts GROUP BY series, rank
) AS t
LEFT JOIN range_people x ON x.series = t.series AND x.rank = t.rank
LEFT JOIN medians md ON md.series = t.series AND md.rank = t.rank AND md.is_total
)
SELECT a.*, NULL::text AS bvalue FROM answer a

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'
-- $5: 'Items'
-- $6: 'Bought'
-- $7: 'Items'
-- $8: 'Bought'

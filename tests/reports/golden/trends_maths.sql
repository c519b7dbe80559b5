WITH
marked AS (
SELECT 0 AS series, person_id, start, value,
       lag(start) OVER w IS DISTINCT FROM start AS first_in_period, lag(start) OVER w IS NULL AS first_of_person
FROM (
  SELECT e.person_id, e.ts, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value
  FROM events e
  WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
) x
WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
UNION ALL
SELECT 1 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $5::text) AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $6::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
UNION ALL
SELECT 2 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $7::text) AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $8::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
),
cells AS MATERIALIZED (
SELECT series, NULL::text AS bvalue, start, count(*) AS events,
       count(*) FILTER (WHERE first_in_period) AS people, count(*) FILTER (WHERE first_of_person) AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM marked m
GROUP BY 1, 2, 3
),
folded AS (
SELECT c.series, 0::bigint AS rank, c.start, GROUPING(c.start) = 1 AS is_total, sum(c.events)::bigint AS events,
       (CASE WHEN GROUPING(c.start) = 1 THEN sum(c.range_people) ELSE sum(c.people) END)::bigint AS people,
       sum(c.n_values)::bigint AS n_values, sum(c.sum) AS sum, min(c.min) AS min, max(c.max) AS max
FROM cells c
GROUP BY GROUPING SETS ((c.series, 0::bigint, c.start), (c.series, 0::bigint))
),
matched AS NOT MATERIALIZED (
SELECT 2 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $11::text) AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $12::text
  AND e.ts >= $9::timestamptz
  AND e.ts < $10::timestamptz
),
tagged AS NOT MATERIALIZED (
SELECT series, 0::bigint AS rank, start, person_id, value FROM matched
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
SELECT f.series, f.rank, f.start, f.is_total, f.events, f.people,
       md.median_low, md.median_high, f.n_values, f.sum, f.min, f.max
FROM folded f
LEFT JOIN medians md ON md.series = f.series AND md.rank = f.rank
  AND coalesce(md.start, '-infinity') = coalesce(f.start, '-infinity')
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
-- $9: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $10: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $11: 'Items'
-- $12: 'Bought'

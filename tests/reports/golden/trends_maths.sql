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
)
SELECT m.series, NULL::bigint AS rank, NULL::text AS bvalue, m.start, GROUPING(m.start) = 1 AS is_total,
       count(*) AS events,
       count(DISTINCT m.person_id) FILTER (WHERE m.series IN (0)) AS people,
       count(m.value) AS n_values,
       sum(m.value) AS sum,
       min(m.value) AS min,
       max(m.value) AS max,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY m.value) FILTER (WHERE m.series IN (2)) AS median_low,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY m.value DESC) FILTER (WHERE m.series IN (2)) AS median_high
FROM matched m
GROUP BY GROUPING SETS ((m.series, m.start), (m.series))

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'
-- $5: 'Items'
-- $6: 'Bought'
-- $7: 'Items'
-- $8: 'Bought'

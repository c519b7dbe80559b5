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
  AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
) x
WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
UNION ALL
SELECT 1 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $5::text) AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $6::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
UNION ALL
SELECT 2 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $7::text) AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $8::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
),
cells AS MATERIALIZED (
SELECT series, NULL::text AS bvalue, start, count(*) AS events,
       count(*) FILTER (WHERE first_in_period) AS people, count(*) FILTER (WHERE first_of_person) AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM marked m
GROUP BY 1, 2, 3
),
matched AS NOT MATERIALIZED (
SELECT 2 AS series, e.person_id, date_bin('7 days', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $11::text) AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $12::text
  AND e.ts >= $9::timestamptz
  AND e.ts < $10::timestamptz
  AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
)
SELECT series, bvalue, start, events, people, range_people, n_values, sum, min, max,
       NULL::numeric[] AS vals
FROM cells
UNION ALL
SELECT series, bvalue, start, NULL, NULL, NULL, NULL, NULL, NULL, NULL, array_agg(value ORDER BY value)
FROM matched
WHERE value IS NOT NULL AND series IN (2)
GROUP BY series, bvalue, start

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

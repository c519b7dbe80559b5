WITH
marked AS (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, NULL::boolean AS first_in_period, NULL::boolean AS first_of_person
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
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
answer AS (
SELECT series, rank, start, is_total, events, people,
       NULL::numeric AS median_low, NULL::numeric AS median_high, n_values, sum, min, max
FROM folded
)
SELECT a.*, NULL::text AS bvalue FROM answer a

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'

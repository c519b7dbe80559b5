WITH
matched AS NOT MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
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
SELECT a.*, NULL::text AS bvalue FROM answer a

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'

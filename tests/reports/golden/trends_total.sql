WITH
matched AS NOT MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
)
SELECT m.series, NULL::bigint AS rank, NULL::text AS bvalue, m.start, GROUPING(m.start) = 1 AS is_total,
       count(*) AS events,
       NULL::bigint AS people,
       0::bigint AS n_values,
       NULL::numeric AS sum,
       NULL::numeric AS min,
       NULL::numeric AS max,
       NULL::numeric AS median_low,
       NULL::numeric AS median_high
FROM matched m
GROUP BY GROUPING SETS ((m.series, m.start), (m.series))

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'

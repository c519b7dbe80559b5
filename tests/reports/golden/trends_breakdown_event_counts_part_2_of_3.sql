WITH
matched AS MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, whodid_numeric(e.properties -> $5::text) AS value, coalesce(e.properties ->> $4::text, CASE WHEN e.properties ? $4::text THEN 'null' END) COLLATE "C" AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $6::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND ((e.properties ? $7::text) AND whodid_text(e.properties -> $7::text) = whodid_text(($8::text)::jsonb)) AND (whodid_numeric(e.properties -> $9::text) > whodid_numeric(($10::text)::jsonb))
  AND e.person_id >= '55555555-5555-5555-5555-555555555555'::uuid AND e.person_id < 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'::uuid
UNION ALL
SELECT 1 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, coalesce(e.properties ->> $4::text, CASE WHEN e.properties ? $4::text THEN 'null' END) COLLATE "C" AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $11::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND e.person_id >= '55555555-5555-5555-5555-555555555555'::uuid AND e.person_id < 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'::uuid
),
cells AS (
SELECT series, bvalue, start, count(*) AS events,
       NULL::bigint AS people, NULL::bigint AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM matched
GROUP BY 1, 2, 3
)
SELECT series, bvalue, start, events, people, range_people, n_values, sum, min, max,
       NULL::numeric[] AS vals
FROM cells
UNION ALL
SELECT series, bvalue, start, NULL, NULL, NULL, NULL, NULL, NULL, NULL, array_agg(value ORDER BY value)
FROM matched
WHERE value IS NOT NULL AND series IN (0)
GROUP BY series, bvalue, start

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Plan'
-- $5: 'Items'
-- $6: 'Bought'
-- $7: 'Plan'
-- $8: '"pro"'
-- $9: 'Items'
-- $10: '2'
-- $11: 'Viewed'

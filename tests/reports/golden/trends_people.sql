WITH
matched AS NOT MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, NULL::text AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $4::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
),
people AS (
SELECT DISTINCT m.person_id FROM matched m
WHERE m.start = $5::timestamptz
)
SELECT (SELECT count(*) FROM people) AS total,
       ARRAY(SELECT person_id FROM people
             WHERE $6::uuid IS NULL OR person_id > $6::uuid
             ORDER BY person_id LIMIT $7) AS ids

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Bought'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: None
-- $7: 51

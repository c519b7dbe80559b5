WITH
matched AS MATERIALIZED (
SELECT 0 AS series, e.person_id, date_bin('1 day', e.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS start, NULL::numeric AS value, coalesce(e.properties ->> $4::text, CASE WHEN e.properties ? $4::text THEN 'null' END) COLLATE "C" AS bvalue
FROM events e
WHERE e.project_id = $1
  AND e.name = $5::text
  AND e.ts >= $2::timestamptz
  AND e.ts < $3::timestamptz
  AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb))
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
people AS (
SELECT DISTINCT m.person_id FROM matched m
LEFT JOIN ranked r ON r.series = m.series AND r.bvalue = m.bvalue
WHERE m.start = $10::timestamptz AND r.rank IS NULL
)
SELECT (SELECT count(*) FROM people) AS total,
       ARRAY(SELECT person_id FROM people
             WHERE $12::uuid IS NULL OR person_id > $12::uuid
             ORDER BY person_id LIMIT $13) AS ids

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
-- $10: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $11: 5
-- $12: None
-- $13: 11

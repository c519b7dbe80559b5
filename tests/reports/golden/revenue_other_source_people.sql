WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $5::text) AND whodid_text(p.properties -> $5::text) = whodid_text(($6::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $7::text AND e.ts >= $8::timestamptz AND e.ts < $9::timestamptz)
),
in_range AS (
SELECT person_id, ts, revenue
FROM events
WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= $2 AND ts < $3 AND person_id IN (SELECT pp.id FROM population pp)
),
periods AS (
SELECT s AT TIME ZONE 'UTC' AS start, (s + interval '7 days') AT TIME ZONE 'UTC' AS stop
FROM generate_series(date_trunc('week', $2::timestamptz AT TIME ZONE 'UTC'),
                     ($3::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                     interval '7 days') AS s
WHERE $2::timestamptz < $3::timestamptz
),
per_person AS MATERIALIZED (
SELECT person_id,
       sum(revenue) AS total,
       sum(revenue) FILTER (WHERE revenue > 0) AS gross,
       sum(revenue) FILTER (WHERE revenue < 0) AS refunds,
       sum(revenue) FILTER (WHERE revenue > 0) IS NOT NULL AS paid
FROM in_range GROUP BY person_id ORDER BY person_id
),
person_source AS (
SELECT p.*,
       whodid_text(CASE WHEN e.at IS NULL OR s.at <= e.at THEN s.value ELSE e.value END) AS value
FROM per_person AS p
LEFT JOIN LATERAL (
    SELECT c.at, c.value
    FROM property_changes c
    WHERE c.project_id = $1 AND c.person_id = p.person_id AND c.key = $4
      AND c.value IS NOT NULL AND c.value <> 'null'::jsonb
    ORDER BY c.at, c.seq LIMIT 1
) AS s ON true
LEFT JOIN LATERAL (
    SELECT e.ts AS at, e.seq, e.properties -> $4::text AS value
    FROM events e
    WHERE e.project_id = $1 AND e.person_id = p.person_id
      AND e.properties ? $4::text AND e.properties -> $4::text <> 'null'::jsonb
    ORDER BY e.ts, e.seq LIMIT 1
) AS e ON true
),
summary AS (
SELECT coalesce(sum(total), 0) AS total,
       coalesce(sum(gross), 0) AS gross,
       coalesce(sum(refunds), 0) AS refunds,
       count(*) FILTER (WHERE paid) AS paying,
       count(*) AS people
FROM per_person
),
series AS (
SELECT p.start, x.*
FROM periods p
CROSS JOIN LATERAL (
    SELECT coalesce(sum(revenue), 0) AS total,
           coalesce(sum(revenue) FILTER (WHERE revenue > 0), 0) AS gross,
           coalesce(sum(revenue) FILTER (WHERE revenue < 0), 0) AS refunds,
           count(DISTINCT person_id) FILTER (WHERE revenue > 0) AS paying
    FROM events
    WHERE project_id = $1 AND revenue IS NOT NULL
      AND ts >= greatest(p.start, $2::timestamptz) AND ts < least(p.stop, $3::timestamptz) AND person_id IN (SELECT pp.id FROM population pp)
) AS x
),
sources AS (
SELECT value, coalesce(sum(total), 0) AS total, count(*) FILTER (WHERE paid) AS paying
FROM person_source
GROUP BY value
)
SELECT 'summary' AS kind, 0 AS n, NULL::timestamptz AS start, NULL::text AS value,
       total, gross, refunds, paying, CASE WHEN paying = 0 THEN 0.00 ELSE (sign(total) * div(abs(total) * 200 + paying, 2 * paying)) * 0.01 END AS average, people
FROM summary
UNION ALL
SELECT 'period', row_number() OVER (ORDER BY start), start, NULL,
       total, gross, refunds, paying, CASE WHEN paying = 0 THEN 0.00 ELSE (sign(total) * div(abs(total) * 200 + paying, 2 * paying)) * 0.01 END, NULL
FROM series
UNION ALL
SELECT 'source', row_number() OVER (ORDER BY total DESC, value COLLATE "C" NULLS LAST), NULL, value,
       total, NULL, NULL, paying, CASE WHEN paying = 0 THEN 0.00 ELSE (sign(total) * div(abs(total) * 200 + paying, 2 * paying)) * 0.01 END, NULL
FROM sources
ORDER BY kind, n

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'utm_source'
-- $5: 'Country'
-- $6: '"FR"'
-- $7: 'Signed Up'
-- $8: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: datetime.datetime(2024, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)

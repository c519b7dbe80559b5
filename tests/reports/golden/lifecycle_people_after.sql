WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
marked AS (
SELECT person_id, p, older, newer,
       older IS DISTINCT FROM p AS first_in_p,
       newer IS DISTINCT FROM p AS last_in_p
FROM (
    SELECT person_id, p,
           lead(p) OVER w AS older,
           lag(p) OVER w AS newer
    FROM (
        SELECT e.person_id, e.ts, date_trunc('month', e.ts AT TIME ZONE 'UTC') AS p
        FROM events e
        WHERE e.project_id = $1 AND e.name = $7::text AND e.ts < $8::timestamptz AND ((e.properties ? $9::text) AND whodid_text(e.properties -> $9::text) = whodid_text(($10::text)::jsonb)) AND (whodid_numeric(e.properties -> $11::text) > whodid_numeric(($12::text)::jsonb)) AND e.person_id IN (SELECT id FROM population)
    ) x
    WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) y
)
SELECT person_id FROM marked
WHERE p = $13::timestamp AND first_in_p AND older IS NULL AND person_id > $14::uuid
ORDER BY person_id
LIMIT $15

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Country'
-- $3: '"FR"'
-- $4: 'Signed Up'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $7: 'Logged In'
-- $8: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: 'Plan'
-- $10: '"pro"'
-- $11: 'Items'
-- $12: '2'
-- $13: datetime.datetime(2024, 1, 1, 0, 0)
-- $14: UUID('00000000-0000-0000-0000-000000000007')
-- $15: 11

WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
),
firsts AS (
SELECT p, older
FROM (
    SELECT p, lead(p) OVER w AS older
    FROM (
        SELECT e.person_id, e.ts, date_trunc('month', e.ts AT TIME ZONE 'UTC') AS p
        FROM events e
        WHERE e.project_id = $1 AND e.name = $7::text AND e.ts < $8::timestamptz AND ((e.properties ? $9::text) AND whodid_text(e.properties -> $9::text) = whodid_text(($10::text)::jsonb)) AND (whodid_numeric(e.properties -> $11::text) > whodid_numeric(($12::text)::jsonb)) AND e.person_id IN (SELECT id FROM population)
    ) x
    WINDOW w AS (PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) y
WHERE older IS DISTINCT FROM p
),
counts AS (
SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - interval '1 month') AS returning,
       count(*) FILTER (WHERE older < p - interval '1 month') AS resurrecting,
       count(*) AS active
FROM firsts
WHERE p >= $13::timestamp - interval '1 month'
GROUP BY p
)
SELECT c.p AT TIME ZONE 'UTC' AS start, c.new, c.returning, c.resurrecting,
       c.active - coalesce(n.returning, 0) AS dormant_after
FROM counts c
LEFT JOIN counts n ON n.p = c.p + interval '1 month'

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

WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $2::text) AND whodid_text(p.properties -> $2::text) = whodid_text(($3::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $4::text AND e.ts >= $5::timestamptz AND e.ts < $6::timestamptz)
)
SELECT h.p AT TIME ZONE 'UTC' AS start, h.new, h.returning, h.resurrecting, h.active
FROM (
SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - interval '1 month') AS returning,
       count(*) - count(*) FILTER (WHERE older IS NULL) - count(*) FILTER (WHERE older = p - interval '1 month')
         AS resurrecting,
       count(*) AS active
FROM (
    SELECT unnest(a) AS p, unnest(a[2:]) AS older
    FROM (
        SELECT array_agg(DISTINCT date_trunc('month', e.ts AT TIME ZONE 'UTC') ORDER BY date_trunc('month', e.ts AT TIME ZONE 'UTC') DESC) AS a
        FROM events e
        WHERE e.project_id = $1 AND e.name = $8::text AND e.ts < $9::timestamptz AND ((e.properties ? $10::text) AND whodid_text(e.properties -> $10::text) = whodid_text(($11::text)::jsonb)) AND (whodid_numeric(e.properties -> $12::text) > whodid_numeric(($13::text)::jsonb)) AND e.person_id IN (SELECT id FROM population) AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
        GROUP BY e.person_id
    ) s
) u
WHERE p >= $7::timestamp - interval '1 month'
GROUP BY p
) h

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Country'
-- $3: '"FR"'
-- $4: 'Signed Up'
-- $5: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $6: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $7: datetime.datetime(2024, 1, 1, 0, 0)
-- $8: 'Logged In'
-- $9: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $10: 'Plan'
-- $11: '"pro"'
-- $12: 'Items'
-- $13: '2'

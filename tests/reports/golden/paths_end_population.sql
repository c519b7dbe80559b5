WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $5::text) AND whodid_text(p.properties -> $5::text) = whodid_text(($6::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $7::text AND e.ts >= $8::timestamptz AND e.ts < $9::timestamptz)
),
anchors AS (
SELECT e.person_id, min(e.ts) AS t0
FROM events e
WHERE e.project_id = $1 AND e.name = $2::text AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND e.person_id IN (SELECT id FROM population)
GROUP BY e.person_id
),
marked AS (
SELECT e.person_id, e.ts, e.name COLLATE "C" AS name, a.t0,
       e.name IS DISTINCT FROM lag(e.name) OVER w AS starts
FROM events e
JOIN anchors a ON a.person_id = e.person_id
WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND (e.ts < a.t0 OR (e.ts = a.t0 AND e.name COLLATE "C" <= $2::text))
WINDOW w AS (PARTITION BY e.person_id ORDER BY e.ts, e.name COLLATE "C")
),
steps AS (
SELECT person_id, step, name, nxt
FROM (
    SELECT person_id, name, row_number() OVER w - count(*) OVER (PARTITION BY person_id) AS step,
           lead(name) OVER w AS nxt
    FROM marked
    WHERE starts
    WINDOW w AS (PARTITION BY person_id ORDER BY ts, name)
) s
WHERE step >= $10
),
counted AS MATERIALIZED (
SELECT step, name, nxt, count(*) AS people
FROM steps
GROUP BY step, name, nxt
),
kept AS (
SELECT step, name
FROM (
    SELECT step, name, row_number() OVER (PARTITION BY step ORDER BY sum(people) DESC, name) AS rank
    FROM counted
    GROUP BY step, name
) r
WHERE rank <= $11
)
SELECT 'node' AS kind, c.step, k.name AS source, NULL::text AS target, sum(c.people)::bigint AS people
FROM counted c
LEFT JOIN kept k ON k.step = c.step AND k.name = c.name
GROUP BY c.step, k.name
UNION ALL
SELECT 'link', c.step, k.name, t.name, sum(c.people)::bigint
FROM counted c
LEFT JOIN kept k ON k.step = c.step AND k.name = c.name
LEFT JOIN kept t ON t.step = c.step + 1 AND t.name = c.nxt
WHERE c.nxt IS NOT NULL
GROUP BY c.step, k.name, t.name

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Purchased'
-- $3: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 'Country'
-- $6: '"FR"'
-- $7: 'Signed Up'
-- $8: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $9: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $10: -6
-- $11: 3

WITH
anchors AS (
SELECT e.person_id, min(e.ts) AS t0
FROM events e
WHERE e.project_id = $1 AND e.name = $2::text AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz
GROUP BY e.person_id
),
marked AS (
SELECT e.person_id, e.ts, e.name COLLATE "C" AS name, a.t0,
       e.name IS DISTINCT FROM lag(e.name) OVER w AS starts
FROM events e
JOIN anchors a ON a.person_id = e.person_id
WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz
WINDOW w AS (PARTITION BY e.person_id ORDER BY e.ts, e.name COLLATE "C")
),
steps AS (
SELECT person_id, n - 1 AS step, name, CASE WHEN n < $5 THEN nxt END AS nxt
FROM (
    SELECT person_id, name, row_number() OVER w AS n, lead(name) OVER w AS nxt
    FROM marked
    WHERE starts AND (ts > t0 OR (ts = t0 AND name >= $2::text))
    WINDOW w AS (PARTITION BY person_id ORDER BY ts, name)
) s
WHERE n <= $5
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
WHERE rank <= $6
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
-- $2: 'Signed Up'
-- $3: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 5
-- $6: 10

WITH
anchors AS (
SELECT e.person_id, min(e.ts) AS t0
FROM events e
WHERE e.project_id = $1 AND e.name = $2::text AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz
GROUP BY e.person_id
),
walk AS (
SELECT e.person_id, e.ts, e.name
FROM anchors a
JOIN events e ON e.project_id = $1 AND e.person_id = a.person_id
WHERE e.ts >= $3::timestamptz AND e.ts < $4::timestamptz
  AND (e.ts > a.t0 OR (e.ts = a.t0 AND e.name COLLATE "C" >= $2::text))
),
steps AS (
SELECT person_id, (n - 1) AS step, name
FROM (
    SELECT person_id, name, row_number() OVER (PARTITION BY person_id ORDER BY ts, name COLLATE "C") AS n
    FROM (
        SELECT person_id, ts, name, name IS DISTINCT FROM lag(name) OVER (PARTITION BY person_id ORDER BY ts, name COLLATE "C") AS starts
        FROM walk
    ) c
    WHERE starts
) x
WHERE n <= $5
),
kept AS (
SELECT step, name
FROM (
    SELECT step, name,
           row_number() OVER (PARTITION BY step ORDER BY count(*) DESC, name COLLATE "C") AS rank
    FROM steps
    GROUP BY step, name
) r
WHERE rank <= $6
),
folded AS MATERIALIZED (
SELECT s.person_id, s.step, k.name
FROM steps s
LEFT JOIN kept k ON k.step = s.step AND k.name = s.name
)
SELECT 'node' AS kind, step, name AS source, NULL::text AS target, count(*) AS people
FROM folded
GROUP BY step, name
UNION ALL
SELECT 'link', a.step, a.name, b.name, count(*)
FROM folded a
JOIN folded b ON b.person_id = a.person_id AND b.step = a.step + 1
GROUP BY a.step, a.name, b.name

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Signed Up'
-- $3: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 5
-- $6: 10

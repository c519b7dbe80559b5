WITH
paths AS (
SELECT r.person_id, (array_agg(r.name))[1:$5::int + 1] AS path
FROM (
    SELECT u.person_id, u.name
    FROM (
        SELECT s.person_id, unnest(s.p) AS name, unnest(s.p[2:]) AS nxt, unnest(s.pts) AS ts
        FROM (
            SELECT o.person_id, (array_agg(o.name))[array_position(array_agg(o.name), $2::text):] AS p, (array_agg(o.ts))[array_position(array_agg(o.name), $2::text):] AS pts
            FROM (
                SELECT e.person_id, e.ts, e.name COLLATE "C" AS name
                FROM events e
                WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz
                ORDER BY e.person_id, e.ts, e.name COLLATE "C"
            ) o
            GROUP BY o.person_id
            HAVING array_position(array_agg(o.name), $2::text) IS NOT NULL
        ) s
        ORDER BY s.person_id
    ) u
    WHERE u.nxt IS NULL OR u.name <> u.nxt
    ORDER BY u.person_id, u.ts, u.name COLLATE "C"
) r
GROUP BY r.person_id
),
steps AS MATERIALIZED (
SELECT x.*
FROM (
    SELECT w.person_id, generate_series(0, $5::int) AS step, unnest(w.path) AS name, unnest(w.path[2:]) AS nxt
    FROM paths w
) x
WHERE x.name IS NOT NULL
),
counted AS (
SELECT step, name COLLATE "C" AS name, count(*) AS people
FROM steps
GROUP BY step, name
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
SELECT s.person_id FROM steps s
WHERE s.step = $8::int AND s.name = $7::text AND EXISTS (SELECT 1 FROM kept k WHERE k.step = s.step AND k.name = s.name)
ORDER BY s.person_id
LIMIT $9

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: 'Signed Up'
-- $3: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 4
-- $6: 10
-- $7: 'Viewed'
-- $8: 2
-- $9: 51

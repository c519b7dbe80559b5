WITH
path_counts AS (
SELECT h.path, sum(h.people) AS people
FROM (
SELECT pp.path, count(*) AS people
FROM (
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
                    WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
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
) pp
GROUP BY pp.path
UNION ALL
SELECT pp.path, count(*) AS people
FROM (
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
                    WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
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
) pp
GROUP BY pp.path
) h
GROUP BY h.path
),
counted AS MATERIALIZED (
SELECT st.step, st.name COLLATE "C" AS name, st.nxt COLLATE "C" AS nxt, sum(st.people) AS people
FROM (
    SELECT x.*
    FROM (
        SELECT w.people, generate_series(0, $5::int) AS step, unnest(w.path) AS name, unnest(w.path[2:]) AS nxt
        FROM path_counts w
    ) x
    WHERE x.name IS NOT NULL
) st
GROUP BY st.step, st.name, st.nxt
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
-- $5: 4
-- $6: 10

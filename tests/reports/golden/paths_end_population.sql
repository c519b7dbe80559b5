WITH
population AS MATERIALIZED (
SELECT p.id FROM persons p WHERE p.project_id = $1
  AND p.merged_into IS NULL
  AND ((p.properties ? $5::text) AND whodid_text(p.properties -> $5::text) = whodid_text(($6::text)::jsonb))
  AND EXISTS (SELECT FROM events e WHERE e.project_id = $1 AND e.person_id = p.id AND e.name = $7::text AND e.ts >= $8::timestamptz AND e.ts < $9::timestamptz)
),
path_counts AS (
SELECT h.path, sum(h.people) AS people
FROM (
SELECT pp.path, count(*) AS people
FROM (
    SELECT r.person_id, (array_agg(r.name))[1:$10::int + 1] AS path
    FROM (
        SELECT u.person_id, u.name
        FROM (
            SELECT s.person_id, unnest(s.p) AS name, unnest(s.p[2:]) AS nxt, unnest(s.pts) AS ts
            FROM (
                SELECT o.person_id, (array_agg(o.name))[:array_position(array_agg(o.name), $2::text)] AS p, (array_agg(o.ts))[:array_position(array_agg(o.name), $2::text)] AS pts
                FROM (
                    SELECT e.person_id, e.ts, e.name COLLATE "C" AS name
                    FROM events e
                    WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND e.person_id IN (SELECT id FROM population) AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
                    ORDER BY e.person_id, e.ts, e.name COLLATE "C"
                ) o
                GROUP BY o.person_id
                HAVING array_position(array_agg(o.name), $2::text) IS NOT NULL
            ) s
            ORDER BY s.person_id
        ) u
        WHERE u.nxt IS NULL OR u.name <> u.nxt
        ORDER BY u.person_id, u.ts DESC, u.name COLLATE "C" DESC
    ) r
    GROUP BY r.person_id
) pp
GROUP BY pp.path
UNION ALL
SELECT pp.path, count(*) AS people
FROM (
    SELECT r.person_id, (array_agg(r.name))[1:$10::int + 1] AS path
    FROM (
        SELECT u.person_id, u.name
        FROM (
            SELECT s.person_id, unnest(s.p) AS name, unnest(s.p[2:]) AS nxt, unnest(s.pts) AS ts
            FROM (
                SELECT o.person_id, (array_agg(o.name))[:array_position(array_agg(o.name), $2::text)] AS p, (array_agg(o.ts))[:array_position(array_agg(o.name), $2::text)] AS pts
                FROM (
                    SELECT e.person_id, e.ts, e.name COLLATE "C" AS name
                    FROM events e
                    WHERE e.project_id = $1 AND e.ts >= $3::timestamptz AND e.ts < $4::timestamptz AND e.person_id IN (SELECT id FROM population) AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
                    ORDER BY e.person_id, e.ts, e.name COLLATE "C"
                ) o
                GROUP BY o.person_id
                HAVING array_position(array_agg(o.name), $2::text) IS NOT NULL
            ) s
            ORDER BY s.person_id
        ) u
        WHERE u.nxt IS NULL OR u.name <> u.nxt
        ORDER BY u.person_id, u.ts DESC, u.name COLLATE "C" DESC
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
        SELECT w.people, generate_series(0, -$10::int, -1) AS step, unnest(w.path) AS name, unnest(array_prepend(NULL::text, w.path)) AS nxt
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
-- $10: 6
-- $11: 3

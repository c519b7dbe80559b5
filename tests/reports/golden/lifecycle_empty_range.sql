WITH
counts AS (
SELECT h.p, sum(h.new) AS new, sum(h.returning) AS returning, sum(h.resurrecting) AS resurrecting,
       sum(h.active) AS active
FROM (
SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - interval '168 hours') AS returning,
       count(*) - count(*) FILTER (WHERE older IS NULL) - count(*) FILTER (WHERE older = p - interval '168 hours')
         AS resurrecting,
       count(*) AS active
FROM (
    SELECT unnest(a) AS p, unnest(a[2:]) AS older
    FROM (
        SELECT array_agg(DISTINCT date_bin(interval '168 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') ORDER BY date_bin(interval '168 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') DESC) AS a
        FROM events e
        WHERE e.project_id = $1 AND e.name = $3::text AND e.ts < $4::timestamptz AND e.person_id < '80000000-0000-0000-0000-000000000000'::uuid
        GROUP BY e.person_id
    ) s
) u
WHERE p >= $2::timestamptz - interval '168 hours'
GROUP BY p
UNION ALL
SELECT p,
       count(*) FILTER (WHERE older IS NULL) AS new,
       count(*) FILTER (WHERE older = p - interval '168 hours') AS returning,
       count(*) - count(*) FILTER (WHERE older IS NULL) - count(*) FILTER (WHERE older = p - interval '168 hours')
         AS resurrecting,
       count(*) AS active
FROM (
    SELECT unnest(a) AS p, unnest(a[2:]) AS older
    FROM (
        SELECT array_agg(DISTINCT date_bin(interval '168 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') ORDER BY date_bin(interval '168 hours', e.ts, TIMESTAMPTZ '1999-12-27 00:00:00+00') DESC) AS a
        FROM events e
        WHERE e.project_id = $1 AND e.name = $5::text AND e.ts < $6::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
        GROUP BY e.person_id
    ) s
) u
WHERE p >= $2::timestamptz - interval '168 hours'
GROUP BY p
) h
GROUP BY h.p
)
SELECT c.p AS start, c.new, c.returning, c.resurrecting, c.active
FROM counts c

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: 'Logged In'
-- $4: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $5: 'Logged In'
-- $6: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)

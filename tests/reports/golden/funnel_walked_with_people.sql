WITH
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, f.times[1] AS t0, f.times[2] AS t1, f.times[3] AS t2, NULL::text AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event. The aggregates still say ORDER BY: the arrays' order must
            -- not depend on the plan.
            SELECT e.person_id, e.ts, e.seq,
                   (CASE WHEN e.name = $4::text THEN 1 ELSE 0 END
               | CASE WHEN e.name = $4::text AND ((e.properties ? $5::text) AND whodid_text(e.properties -> $5::text) = whodid_text(($6::text)::jsonb)) AND (whodid_numeric(e.properties -> $7::text) > whodid_numeric(($8::text)::jsonb)) THEN 2 ELSE 0 END
               | CASE WHEN e.name = $9::text THEN 4 ELSE 0 END) AS mask
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY($10::text[])
              AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL whodid_funnel_chain(
        p.tss, p.masks, $11::int, $12::bigint, $13::boolean) f
),
lab AS (SELECT c.*, 0::bigint AS segrank FROM chains c)
SELECT 0 AS kind, 1 AS overall, l.segrank, 0 AS k, count(*) AS n,
       NULL::numeric AS total, NULL::numeric AS med_lo, NULL::numeric AS med_hi,
       NULL::numeric AS p90_lo, NULL::numeric AS p90_hi, NULL::bigint[] AS histogram, NULL::text AS value,
       NULL::bytea AS ids, NULL::bytea AS levels, NULL::bytea AS segments, NULL::bytea AS times
FROM lab l GROUP BY l.segrank
UNION ALL
SELECT 1, 1, d.segrank, d.k, count(*),
       extract(epoch FROM sum(d.d)),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[(count(*)::int - 1) / 2 + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[count(*)::int / 2 + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[floor(0.9::float8 * (count(*) - 1)::float8)::int + 1]),
       extract(epoch FROM (array_agg(d.d ORDER BY d.d))[least(floor(0.9::float8 * (count(*) - 1)::float8)::int + 2, count(*)::int)]),
       ARRAY[count(*) FILTER (WHERE d.d <= interval '60 seconds'), count(*) FILTER (WHERE d.d > interval '60 seconds' AND d.d <= interval '600 seconds'), count(*) FILTER (WHERE d.d > interval '600 seconds' AND d.d <= interval '3600 seconds'), count(*) FILTER (WHERE d.d > interval '3600 seconds' AND d.d <= interval '86400 seconds'), count(*) FILTER (WHERE d.d > interval '86400 seconds' AND d.d <= interval '604800 seconds'), count(*) FILTER (WHERE d.d > interval '604800 seconds' AND d.d <= interval '2592000 seconds'), count(*) FILTER (WHERE d.d > interval '2592000 seconds')],
       NULL, NULL, NULL, NULL, NULL
FROM (SELECT l.segrank, 1 AS k, l.t1 - l.t0 AS d FROM lab l WHERE l.level > 1
      UNION ALL SELECT l.segrank, 2 AS k, l.t2 - l.t1 AS d FROM lab l WHERE l.level > 2) d
GROUP BY d.k, d.segrank
UNION ALL
SELECT 3, 0, 0, 0, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       string_agg(uuid_send(l.person_id), ''::bytea),
       string_agg(int2send(l.level::int2), ''::bytea),
       string_agg(int2send(l.segrank::int2), ''::bytea),
       string_agg(coalesce(timestamptz_send(l.t0 + interval '946684800 seconds'), '\x0000000000000000'::bytea) || coalesce(timestamptz_send(l.t1 + interval '946684800 seconds'), '\x0000000000000000'::bytea) || coalesce(timestamptz_send(l.t2 + interval '946684800 seconds'), '\x0000000000000000'::bytea), ''::bytea)
FROM lab l

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Viewed'
-- $5: 'Plan'
-- $6: '"pro"'
-- $7: 'Items'
-- $8: '2'
-- $9: 'Bought'
-- $10: ['Bought', 'Viewed']
-- $11: 3
-- $12: None
-- $13: False

WITH
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, f.times[1] AS t0, f.times[2] AS t1, f.times[3] AS t2, NULL::text AS sv
    FROM (
        SELECT m.person_id,
               array_agg(m.ts ORDER BY m.ts, m.seq) AS tss,
               array_agg(m.mask ORDER BY m.ts, m.seq) AS masks,
               array_agg(m.hv ORDER BY m.ts, m.seq) AS hvs
        FROM (
            -- Sorted here, behind an OFFSET 0 fence: else the planner may walk
            -- events_person_ts for the person order, one random heap read per
            -- event. The aggregates still say ORDER BY: the arrays' order must
            -- not depend on the plan.
            SELECT e.person_id, e.ts, e.seq,
                   (CASE WHEN e.name = $4::text AND e.properties ? $12::text THEN 1::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $5::text AND ((e.properties ? $6::text) AND whodid_text(e.properties -> $6::text) = whodid_text(($7::text)::jsonb)) AND (whodid_numeric(e.properties -> $8::text) > whodid_numeric(($9::text)::jsonb)) THEN 2::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $10::text THEN 4::bigint ELSE 0::bigint END) AS mask, coalesce(e.properties ->> $12::text, CASE WHEN e.properties ? $12::text THEN 'null' END) AS hv
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY($11::text[])
              AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL whodid_funnel_chain_options(
        p.tss, p.masks, p.hvs, $13::int, $14::bigint,
        $15::boolean, $16::boolean,
        $17::int[], $18::int[]) f
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

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: 'Viewed'
-- $5: 'Added'
-- $6: 'Plan'
-- $7: '"pro"'
-- $8: 'Items'
-- $9: '2'
-- $10: 'Bought'
-- $11: ['Added', 'Bought', 'Viewed']
-- $12: 'Plan'
-- $13: 3
-- $14: None
-- $15: False
-- $16: True
-- $17: []
-- $18: []

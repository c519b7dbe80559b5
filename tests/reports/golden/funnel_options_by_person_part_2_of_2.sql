WITH
chains AS MATERIALIZED (
    SELECT p.person_id, f.level, f.times[1] AS t0, f.times[2] AS t1, f.times[3] AS t2, coalesce(pr.properties ->> $10::text, CASE WHEN pr.properties ? $10::text THEN 'null' END) AS sv
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
                   (CASE WHEN e.name = $4::text THEN 1::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $4::text AND ((e.properties ? $5::text) AND whodid_text(e.properties -> $5::text) = whodid_text(($6::text)::jsonb)) AND (whodid_numeric(e.properties -> $7::text) > whodid_numeric(($8::text)::jsonb)) THEN 2::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $9::text THEN 4::bigint ELSE 0::bigint END
               | CASE WHEN e.name = $12::text AND ((e.properties ? $13::text) AND whodid_text(e.properties -> $13::text) = whodid_text(($14::text)::jsonb)) AND (whodid_numeric(e.properties -> $15::text) > whodid_numeric(($16::text)::jsonb)) THEN 8::bigint ELSE 0::bigint END) AS mask
            FROM events e
            WHERE e.project_id = $1 AND e.name = ANY($11::text[])
              AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz AND e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid
            ORDER BY e.person_id, e.ts, e.seq
            OFFSET 0
        ) m
        WHERE m.mask <> 0
        GROUP BY m.person_id
        HAVING bool_or((m.mask & 1) = 1)
    ) p
    CROSS JOIN LATERAL whodid_funnel_chain_options(
        p.tss, p.masks, NULL::text[], $17::int, $18::bigint,
        $19::boolean, $20::boolean,
        $21::int[], $22::int[]) f
    LEFT JOIN persons pr ON pr.project_id = $1 AND pr.id = p.person_id
    WHERE NOT f.excluded
)
SELECT 4 AS kind, c.sv, 0 AS k, count(*) AS n, NULL::numeric AS total, NULL::bigint[] AS histogram,
       NULL::bigint[] AS us
FROM chains c GROUP BY c.sv
UNION ALL
SELECT 5, d.sv, d.k, count(*), sum(d.us), ARRAY[count(*) FILTER (WHERE d.us <= 60000000), count(*) FILTER (WHERE d.us > 60000000 AND d.us <= 600000000), count(*) FILTER (WHERE d.us > 600000000 AND d.us <= 3600000000), count(*) FILTER (WHERE d.us > 3600000000 AND d.us <= 86400000000), count(*) FILTER (WHERE d.us > 86400000000 AND d.us <= 604800000000), count(*) FILTER (WHERE d.us > 604800000000 AND d.us <= 2592000000000), count(*) FILTER (WHERE d.us > 2592000000000)],
       array_agg(d.us ORDER BY d.us)
FROM (SELECT c.sv, 1 AS k, (extract(epoch FROM c.t1 - c.t0) * 1000000)::bigint AS us FROM chains c WHERE c.level > 1
      UNION ALL SELECT c.sv, 2 AS k, (extract(epoch FROM c.t2 - c.t1) * 1000000)::bigint AS us FROM chains c WHERE c.level > 2) d
GROUP BY d.sv, d.k

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
-- $10: 'Country'
-- $11: ['Bought', 'Refunded', 'Viewed']
-- $12: 'Refunded'
-- $13: 'Plan'
-- $14: '"pro"'
-- $15: 'Items'
-- $16: '2'
-- $17: 3
-- $18: None
-- $19: False
-- $20: False
-- $21: [0]
-- $22: [2]

-- The funnel's per-person walk with its options (DESIGN.md §5, "Funnel:
-- exclusions, holding a property constant, conversion over time"), used by
-- app/reports/funnel.py when a funnel has exclusions, holdConstant or a
-- population filter. whodid_funnel_chain (0003_funnel.sql) stays as it is for
-- every other funnel.
--
-- Input as whodid_funnel_chain's, with bigint masks: bit k (k < nsteps) = the
-- event matches step k (bit 0: a possible start, from <= ts < to; with
-- holdConstant only events that have the property), bit nsteps + x = the event
-- matches exclusion x (x from 0). Every event in the arrays has ts < to.
-- vals: each event's value of the holdConstant property in text form (NULL:
-- missing), read only when hold is true.
-- excl_after / excl_before: each exclusion's afterStep and beforeStep.
--
-- The chains are found as whodid_funnel_chain finds them, except that with
-- hold step k >= 1 only matches events whose value equals the start's. Then,
-- with the person's chain: excluded = for some exclusion x the chain reached
-- afterStep (level > a) and an event matching x that is not in the chain has
-- t_a < t < t_end, t_end = the chain's time at beforeStep when reached, else
-- t_0 + window with a window, else none (every event is before `to`).
CREATE FUNCTION whodid_funnel_chain_options(
    ts timestamptz[],
    masks bigint[],
    vals text[],
    nsteps int,
    win_seconds bigint,
    earliest_only boolean,
    hold boolean,
    excl_after int[],
    excl_before int[],
    OUT level int,
    OUT start_idx int,
    OUT times timestamptz[],
    OUT excluded boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n int := coalesce(cardinality(ts), 0);
    s int := 0;            -- the start being walked
    i int;                 -- scan position
    j int;                 -- first index of the last chain event's timestamp
    x int;                 -- exclusion number (1-based)
    lvl int;               -- steps reached from s
    bit bigint;            -- mask bit looked for
    t timestamptz;         -- time of the last chain event
    win interval := win_seconds * interval '1 second';
    deadline timestamptz;  -- t_0 + window (NULL: none)
    v text;                -- the start's held value
    used int[];            -- indexes of the chain's events
    best_used int[];       -- those of the person's chain
    chain timestamptz[];   -- their timestamps
    t_after timestamptz;
    t_end timestamptz;
BEGIN
    level := 0;
    excluded := false;
    LOOP
        s := s + 1;
        WHILE s <= n AND (masks[s] & 1) = 0 LOOP
            s := s + 1;
        END LOOP;
        EXIT WHEN s > n;
        t := ts[s];
        v := vals[s];
        deadline := ts[s] + win;
        lvl := 1;
        used := ARRAY[s];
        chain := ARRAY[t];
        j := s;
        WHILE j > 1 AND ts[j - 1] = t LOOP
            j := j - 1;
        END LOOP;
        WHILE lvl < nsteps LOOP
            bit := 1::bigint << lvl;
            i := j;
            WHILE i <= n AND (deadline IS NULL OR ts[i] <= deadline)
                  AND ((masks[i] & bit) = 0 OR i = ANY (used) OR (hold AND vals[i] IS DISTINCT FROM v)) LOOP
                i := i + 1;
            END LOOP;
            EXIT WHEN i > n OR (deadline IS NOT NULL AND ts[i] > deadline);
            t := ts[i];
            lvl := lvl + 1;
            used := used || i;
            chain := chain || t;
            j := i;
            WHILE j > 1 AND ts[j - 1] = t LOOP
                j := j - 1;
            END LOOP;
        END LOOP;
        -- Only a strictly higher level replaces the best: the chain is the
        -- earliest start with the highest level.
        IF lvl > level THEN
            level := lvl;
            start_idx := s;
            times := chain;
            best_used := used;
        END IF;
        EXIT WHEN level >= nsteps OR earliest_only;
    END LOOP;
    IF level = 0 THEN
        RETURN;
    END IF;
    FOR x IN 1 .. coalesce(cardinality(excl_after), 0) LOOP
        CONTINUE WHEN level <= excl_after[x];
        t_after := times[excl_after[x] + 1];
        IF level > excl_before[x] THEN
            t_end := times[excl_before[x] + 1];
        ELSE
            t_end := times[1] + win;  -- NULL without a window: no end before `to`
        END IF;
        bit := 1::bigint << (nsteps + x - 1);
        FOR i IN 1 .. n LOOP
            EXIT WHEN t_end IS NOT NULL AND ts[i] >= t_end;
            IF (masks[i] & bit) <> 0 AND ts[i] > t_after AND NOT i = ANY (best_used) THEN
                excluded := true;
                RETURN;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

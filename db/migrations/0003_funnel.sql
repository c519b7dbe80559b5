-- The funnel's per-person walk (DESIGN.md §5 Funnel), used by app/reports/funnel.py.
--
-- Input: one person's relevant events in (ts, seq) order, as two parallel arrays:
-- their timestamps and a bit mask of the steps each event matches (bit k = step k;
-- bit 0 set = a possible start, i.e. a step-0 event with from <= ts < to; every
-- event in the arrays has ts < to). nsteps is the number of steps, win_seconds
-- the conversion window in seconds (NULL: none). Seconds, not an interval: an
-- interval of '1 day' added to a timestamptz follows the session's TimeZone
-- across daylight-saving changes (23 or 25 hours); N * '1 second' never does.
--
-- From each start, step k >= 1 is the earliest event (array order = (ts, seq))
-- that matches step k, is not already in this chain, and has
-- ts >= ts of step k-1 (the same timestamp counts, whatever the seq) and, with a
-- window, ts <= ts of the start + win. A start's level is the number of steps
-- it reaches; the person's level is the highest; their chain is the earliest
-- start with that level.
--
-- Output: level (>= 1 when there is a start, 0 when none), start_idx (array index
-- of the chain's step-0 event) and times (the chain's timestamps, one per step
-- reached).
--
-- earliest_only: the caller's promise that the earliest start is always best,
-- which holds when there is no window and either no step has a `where` filter or
-- no event can match two steps (all step names distinct); see docs/reports.md.
-- Otherwise every start is walked (stopping early when one reaches every step).
--
-- Cost: per start, one forward pass over the person's events (up to the window's
-- end); with earliest_only a single pass per person. Written for PL/pgSQL's
-- cheap paths: simple integer expressions, arrays in expanded form, no SQL
-- statements inside the loops.
CREATE FUNCTION whodid_funnel_chain(
    ts timestamptz[],
    masks int[],
    nsteps int,
    win_seconds bigint,
    earliest_only boolean,
    OUT level int,
    OUT start_idx int,
    OUT times timestamptz[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n int := coalesce(cardinality(ts), 0);
    s int := 0;            -- the start being walked
    i int;                 -- scan position
    j int;                 -- first index of the last chain event's timestamp
    lvl int;               -- steps reached from s
    bit int;               -- mask bit of the step looked for
    t timestamptz;         -- time of the last chain event
    win interval := win_seconds * interval '1 second';
    deadline timestamptz;  -- t_0 + window
    used int[];            -- indexes of the chain's events
    chain timestamptz[];   -- their timestamps
BEGIN
    level := 0;
    LOOP
        s := s + 1;
        WHILE s <= n AND (masks[s] & 1) = 0 LOOP
            s := s + 1;
        END LOOP;
        EXIT WHEN s > n;
        t := ts[s];
        lvl := 1;
        used := ARRAY[s];
        chain := ARRAY[t];
        -- Candidates for the next step start at the first event with the same
        -- timestamp (same second counts, whatever the seq): everything before
        -- has ts < t.
        j := s;
        WHILE j > 1 AND ts[j - 1] = t LOOP
            j := j - 1;
        END LOOP;
        IF win IS NULL THEN
            WHILE lvl < nsteps LOOP
                bit := 1 << lvl;
                i := j;
                WHILE i <= n AND ((masks[i] & bit) = 0 OR i = ANY (used)) LOOP
                    i := i + 1;
                END LOOP;
                EXIT WHEN i > n;
                t := ts[i];
                lvl := lvl + 1;
                used := used || i;
                chain := chain || t;
                j := i;
                WHILE j > 1 AND ts[j - 1] = t LOOP
                    j := j - 1;
                END LOOP;
            END LOOP;
        ELSE
            deadline := ts[s] + win;
            WHILE lvl < nsteps LOOP
                bit := 1 << lvl;
                i := j;
                WHILE i <= n AND ts[i] <= deadline AND ((masks[i] & bit) = 0 OR i = ANY (used)) LOOP
                    i := i + 1;
                END LOOP;
                EXIT WHEN i > n OR ts[i] > deadline;
                t := ts[i];
                lvl := lvl + 1;
                used := used || i;
                chain := chain || t;
                j := i;
                WHILE j > 1 AND ts[j - 1] = t LOOP
                    j := j - 1;
                END LOOP;
            END LOOP;
        END IF;
        -- Only a strictly higher level replaces the best: the chain is the
        -- earliest start with the highest level.
        IF lvl > level THEN
            level := lvl;
            start_idx := s;
            times := chain;
        END IF;
        EXIT WHEN level >= nsteps OR earliest_only;
    END LOOP;
END
$$;

-- Citus (issue 17, docs/scaling.md "How writes work on Citus"): the writer
-- keeps each identity's person in memory (app/storage/identity_cache.py) and
-- skips the identities' shards when it knows every identity of a flush. What
-- makes that safe: a project's identity generation, which grows in the
-- transaction of anything that changes or removes an identity row that
-- exists (a merge, a person's or the project's deletion), under the project's
-- exclusive lock; and a flush reads it after taking the project's shared lock
-- (whodid_flush_start), so it sees every such change committed before its
-- flush began, and none can commit before its own commit. A held identity is
-- used only while the generation is the one it was read or created at.
-- On plain PostgreSQL nothing here: its writer resolves identities in its one
-- statement.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- A table of the coordinator alone (not distributed): read and written
    -- where the project's advisory lock is. A Citus local table, not a plain
    -- one: its writes run through Citus' local execution, which makes the
    -- transaction commit in two phases even when it wrote to one worker only
    -- (a plain table's write would commit after that worker's, and a crash
    -- between the two would keep a merge and lose its generation).
    CREATE TABLE identity_generations (
        project_id  uuid PRIMARY KEY,
        generation  bigint NOT NULL
    );
    PERFORM citus_add_local_table_to_metadata('identity_generations');
    -- A flush's first statement, on the coordinator alone: the project's
    -- shared lock (held to commit), one connection per worker for the
    -- flush's statements, then the identity generation (read after the lock:
    -- a statement of a VOLATILE function takes its own snapshot) and a seq
    -- per event from the events' sequence, in order. Returns the generation
    -- followed by the seqs.
    CREATE FUNCTION whodid_flush_start(project uuid, lock_key bigint, events integer) RETURNS bigint[]
    LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
        held bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(lock_key);
        PERFORM set_config('citus.max_adaptive_executor_pool_size', '1', true);
        SELECT g.generation INTO held FROM identity_generations g WHERE g.project_id = project;
        RETURN coalesce(held, 0)
            || ARRAY(SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, events));
    END $f$;
END
$$;

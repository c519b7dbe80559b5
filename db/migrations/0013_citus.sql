-- Citus (issue 17, docs/scaling.md): on a coordinator with the citus extension,
-- distribute the tables by person, so that one project's people and events are
-- spread over every worker. On plain PostgreSQL this migration does nothing:
-- its keys and its one-statement write path stay as they are.
--
-- Citus needs every PRIMARY KEY and UNIQUE index to hold the distribution column:
-- - persons by id; events and property_changes by person_id, co-located with
--   persons: everything of a person is on one shard, so the per-person reports
--   (funnel, cohort, revenue, trends, paths) run on every shard in parallel.
--   Their keys become (project_id, person_id, id) and (project_id, person_id, seq).
-- - identities by identity: the lookup of every write goes to one shard, and
--   its key (project_id, identity) still makes an identity name one person.
-- - an event's idempotency key is unique per project, not per person: the
--   unique index of events cannot say so any more (it would have to hold
--   person_id), so idempotency_keys, distributed by key, is the gate the writer
--   inserts into first (app/storage/events.py); events keep a plain index on it
--   to find the stored event of a duplicate.
-- - projects is a reference table (a copy on every node: persons' foreign key
--   and every join on it stay local).
-- - the SQL functions reports call run on the workers: distributed too.
-- - joins of tables that are not co-located (identities with persons) run by
--   repartitioning rather than fail: whodid's own queries avoid them, ad-hoc
--   SQL (and the test suite's checks) need not.
-- The shard count is citus.shard_count (32 unless set): more shards than
-- workers, so that adding a worker and rebalancing moves some of them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    ALTER TABLE events DROP CONSTRAINT events_pkey;
    ALTER TABLE events ADD PRIMARY KEY (project_id, person_id, id);
    DROP INDEX events_idempotency;
    CREATE INDEX events_idempotency ON events (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    ALTER TABLE property_changes DROP CONSTRAINT property_changes_pkey;
    ALTER TABLE property_changes ADD PRIMARY KEY (project_id, person_id, seq);
    CREATE TABLE idempotency_keys (
        project_id  uuid NOT NULL,
        key         text NOT NULL,
        PRIMARY KEY (project_id, key)
    );
    -- Events stored before this migration keep their keys.
    INSERT INTO idempotency_keys (project_id, key)
    SELECT project_id, idempotency_key FROM events WHERE idempotency_key IS NOT NULL;

    PERFORM create_reference_table('projects');
    PERFORM create_distributed_table('persons', 'id');
    PERFORM create_distributed_table('events', 'person_id', colocate_with => 'persons');
    PERFORM create_distributed_table('property_changes', 'person_id', colocate_with => 'persons');
    PERFORM create_distributed_table('identities', 'identity');
    PERFORM create_distributed_table('idempotency_keys', 'key', colocate_with => 'identities');
    PERFORM create_distributed_function('whodid_text(jsonb)');
    PERFORM create_distributed_function('whodid_numeric(jsonb)');
    PERFORM create_distributed_function(p.oid::regprocedure)
    FROM pg_proc p WHERE p.proname IN ('whodid_funnel_chain', 'whodid_funnel_chain_options');
    EXECUTE format('ALTER DATABASE %I SET citus.enable_repartition_joins = on', current_database());
    -- A project's rows of each table, for the reports (app/storage/cluster.py,
    -- on_coordinator): PL/pgSQL, never inlined, so that a report statement
    -- that reads them holds no distributed table (Citus would refuse its
    -- recursive CTEs and its joins) while each function's own query runs on
    -- every shard in parallel.
    CREATE FUNCTION whodid_project_events(project uuid) RETURNS SETOF events
    LANGUAGE plpgsql STABLE AS $f$ BEGIN RETURN QUERY SELECT * FROM events e WHERE e.project_id = project; END $f$;
    CREATE FUNCTION whodid_project_persons(project uuid) RETURNS SETOF persons
    LANGUAGE plpgsql STABLE AS $f$ BEGIN RETURN QUERY SELECT * FROM persons p WHERE p.project_id = project; END $f$;
    CREATE FUNCTION whodid_project_property_changes(project uuid) RETURNS SETOF property_changes
    LANGUAGE plpgsql STABLE AS $f$
    BEGIN RETURN QUERY SELECT * FROM property_changes c WHERE c.project_id = project; END $f$;
    CREATE FUNCTION whodid_project_identities(project uuid) RETURNS SETOF identities
    LANGUAGE plpgsql STABLE AS $f$ BEGIN RETURN QUERY SELECT * FROM identities i WHERE i.project_id = project; END $f$;
END
$$;

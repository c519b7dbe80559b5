-- whodid initial schema. Every table is keyed by project first: no query can
-- reach another project's rows without naming its id.

CREATE TABLE projects (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    write_key_hash  bytea NOT NULL UNIQUE,
    read_key_hash   bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A person. A merged-away person keeps its row with merged_into set to the
-- survivor, so an old person id still resolves (flattened on every merge).
CREATE TABLE persons (
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    identified   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    merged_into  uuid,
    -- Current value of each property (latest timestamp wins), derived from
    -- property_changes and kept up to date in the same transaction.
    properties   jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX persons_merged_into ON persons (project_id, merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX persons_properties ON persons USING gin (properties jsonb_path_ops);

-- Every identity resolves to exactly one live person.
CREATE TABLE identities (
    project_id  uuid NOT NULL,
    identity    text NOT NULL,
    person_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project_id, identity)
);
CREATE INDEX identities_person ON identities (project_id, person_id);

CREATE TABLE events (
    project_id       uuid NOT NULL,
    id               uuid NOT NULL,
    -- Commit-ordered sequence: the stable tie-breaker for pagination and reports.
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    person_id        uuid NOT NULL,
    identity         text NOT NULL,
    name             text NOT NULL,
    properties       jsonb NOT NULL DEFAULT '{}'::jsonb,
    revenue          numeric,
    ts               timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    idempotency_key  text,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX events_idempotency ON events (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_name_ts ON events (project_id, name, ts);
CREATE INDEX events_person_ts ON events (project_id, person_id, ts);
CREATE INDEX events_ts ON events (project_id, ts, seq);
CREATE INDEX events_revenue ON events (project_id, ts) INCLUDE (person_id, revenue) WHERE revenue IS NOT NULL;

-- Every property change ever made (Person.propertyHistory).
CREATE TABLE property_changes (
    project_id  uuid NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    person_id   uuid NOT NULL,
    key         text NOT NULL,
    value       jsonb,
    at          timestamptz NOT NULL,
    PRIMARY KEY (project_id, seq)
);
CREATE INDEX property_changes_person ON property_changes (project_id, person_id, key, at, seq);

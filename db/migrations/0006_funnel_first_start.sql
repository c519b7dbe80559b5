-- The funnel's people without a chain (app/reports/funnel.py, docs/reports.md
-- "Funnel"): seq becomes a key column of events_name_person_ts, descending,
-- so that a backward index-only scan gives each person's step-0 events in
-- (ts, seq) order and their earliest start (first by time, then by seq) is
-- the first entry: DISTINCT ON without a sort. Same columns, same size; the
-- forward order (person, ts DESC) that the funnel's window and the cohort read
-- is unchanged.
DROP INDEX events_name_person_ts;
CREATE INDEX events_name_person_ts ON events (project_id, name, person_id, ts DESC, seq DESC);

-- whodid: no transaction
-- The funnel's people without a chain (app/reports/funnel.py, docs/reports.md
-- "Funnel"): seq becomes a key column of events_name_person_ts, descending,
-- so that a backward index-only scan gives each person's step-0 events in
-- (ts, seq) order and their earliest start (first by time, then by seq) is
-- the first entry: DISTINCT ON without a sort. Same columns, same size; the
-- forward order (person, ts DESC) that the funnel's window and the cohort read
-- is unchanged.
--
-- Built CONCURRENTLY beside the old index, which is then dropped: writes and
-- reports go on during the build (~2 s per million events) instead of waiting
-- for it. Safe to run again after an interruption at any point (a leftover
-- new index may be invalid, so it is rebuilt).
DROP INDEX CONCURRENTLY IF EXISTS events_name_person_ts_new;
CREATE INDEX CONCURRENTLY events_name_person_ts_new ON events (project_id, name, person_id, ts DESC, seq DESC);
DROP INDEX CONCURRENTLY IF EXISTS events_name_person_ts;
ALTER INDEX events_name_person_ts_new RENAME TO events_name_person_ts;

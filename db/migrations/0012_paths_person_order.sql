-- whodid: no transaction
-- The paths report (app/reports/paths/statement.py, docs/reports.md "Paths"):
-- the event name becomes the last key column of events_person_ts, byte-wise
-- (COLLATE "C", the order of every name in the reports), so that an
-- index-only scan gives each person's events in (ts, name) order: the paths'
-- windows read them as they come, with no sort of the walked events (at 1M
-- events that sort spilled ~50 MB to disk). The same index, one column wider:
-- what used (project, person, ts) still finds it; no index is added.
--
-- Built CONCURRENTLY beside the old index, which is then dropped: writes and
-- reports go on during the build (~5 s per million events) instead of waiting
-- for it. Safe to run again after an interruption at any point (a leftover
-- new index may be invalid, so it is rebuilt).
DROP INDEX CONCURRENTLY IF EXISTS events_person_ts_new;
CREATE INDEX CONCURRENTLY events_person_ts_new ON events (project_id, person_id, ts, name COLLATE "C");
DROP INDEX CONCURRENTLY IF EXISTS events_person_ts;
ALTER INDEX events_person_ts_new RENAME TO events_person_ts;

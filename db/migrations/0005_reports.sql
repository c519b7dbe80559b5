-- Reports (docs/reports.md, "Cost"): one index for the funnel and the cohort.
--
-- Per event name, the events in (person, time) order, with seq: index-only
-- scans give
-- - the funnel one stream per step already in (person, ts DESC) order, which
--   merge into the order its window pass needs, without reading the table or
--   sorting (app/reports/funnel.py), and its rare "first step-k event at or
--   after t for this person" lookups;
-- - the cohort every person's first cohortEvent (min(ts) per person) and each
--   member's return events in [t0, t0 + buckets * B) (app/reports/cohort.py).
-- Descending time: the order the funnel's window reads (latest first).
CREATE INDEX events_name_person_ts ON events (project_id, name, person_id, ts DESC) INCLUDE (seq);

-- The first event carrying the first-touch property, per person (the revenue
-- report's bySource, app/reports/revenue.py): only events that have the
-- tracker's "Campaign Source" (the sourceProperty default) are in it. Other
-- source properties are found by one pass over the project's events.
CREATE INDEX events_source ON events (project_id, person_id, ts, seq) WHERE properties ? 'Campaign Source';

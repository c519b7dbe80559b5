-- whodid: no transaction
-- The revenue report's per-person sums (app/reports/revenue/statement.py,
-- per_person): the Revenue events in (person) order with their time and
-- amount, so the sums stream person by person out of an index-only scan,
-- with no hash of every paying person and no sort after it (issue 16). Only
-- events with a revenue value are in it, as in events_revenue (by time).
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_revenue_person
    ON events (project_id, person_id) INCLUDE (ts, revenue) WHERE revenue IS NOT NULL;

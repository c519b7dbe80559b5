-- The data's lifecycle (issue 15).
--
-- report_generation: bumped in the same transaction as anything that removes
-- data a cached report may have counted (deletePerson, a retention pass). It is
-- part of every report's cache key and read from the primary before each
-- report, so no worker serves an answer computed before the removal.
--
-- retention_days: events older than this many days are removed by the server
-- in the background (NULL: kept for ever, the default). 1 day to 100 years.
ALTER TABLE projects ADD COLUMN report_generation bigint NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN retention_days integer
    CONSTRAINT projects_retention_days CHECK (retention_days BETWEEN 1 AND 36525);

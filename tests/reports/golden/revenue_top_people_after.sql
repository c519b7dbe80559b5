WITH
in_range AS (
SELECT person_id, ts, revenue
FROM events
WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= $2 AND ts < $3
),
sums AS (
SELECT person_id, sum(revenue) AS revenue FROM in_range GROUP BY person_id
)
SELECT person_id, revenue FROM sums
WHERE $4::numeric IS NULL OR revenue < $4::numeric
   OR (revenue = $4::numeric AND person_id > $5::uuid)
ORDER BY revenue DESC, person_id
LIMIT $6

-- parameters
-- $1: UUID('00000000-0000-0000-0000-000000000001')
-- $2: datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $3: datetime.datetime(2024, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)
-- $4: Decimal('12.50')
-- $5: UUID('00000000-0000-0000-0000-000000000007')
-- $6: 11

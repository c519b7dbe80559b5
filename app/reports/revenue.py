"""The revenue report (DESIGN.md §5 Revenue), computed in PostgreSQL.

One query answers the report (summary, series, bySource and the number of people
for topPeople) as a single row of scalars and parallel arrays; it is composed of
small pieces:

- `in_range`: the Revenue events (revenue IS NOT NULL) with from ≤ ts < to, an
  index-only scan of events_revenue;
- `per_person`: in_range summed per person (total, gross, refunds, whether
  any was positive), in person order — the summary, bySource and topPeople's
  count read these ~9k rows instead of ~33k events (sums of per-person sums
  are the same exact NUMERICs);
- `periods` and `series`: every interval period [start, stop) overlapping
  [from, to), generated in UTC wall-clock time so that '1 month' steps are
  calendar months, each summed over its own range of events_revenue (no
  date_trunc per event, no sort);
- `person_source`: each paying person's first-touch source, the first non-null
  value of sourceProperty by time among their property sets and all their
  events: per person (in person order, so consecutive probes touch nearby
  index pages), the first property set (index probe on
  property_changes_person) against the first event carrying the key — an
  index probe on `events_source` (db/migrations/0005_reports.sql) for the
  default "Campaign Source", else a walk of the person's events in time order
  until one has the key;
- `money(...)`: total, gross, refunds, paying people of any group of events, and
  `avg_cents(...)`, the average per paying person rounded half-up to cents with
  exact integer division.

topPeople pages come from a second, keyset-paginated query (`top_people`).
All money is NUMERIC end to end: asyncpg hands back Decimals.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson

from ..storage import cluster
from ..errors import BadInput
from ..storage.filters import Params
from .periods import MAX_SERIES_POINTS, Period, count_periods_overlapping, to_utc
from .population import Population, population_part
from .population import normalised as population_key
from .sql import Statement

MAX_KEY_LENGTH = 255
_SQL_STEP = {Period.HOUR: "1 hour", Period.DAY: "1 day", Period.WEEK: "7 days", Period.MONTH: "1 month"}
_SQL_UNIT = {Period.HOUR: "hour", Period.DAY: "day", Period.WEEK: "week", Period.MONTH: "month"}


@dataclass(frozen=True)
class RevenueSpec:
    from_: datetime
    to: datetime
    interval: Period = Period.MONTH
    source_property: str = "Campaign Source"
    people: Population | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "interval", Period(self.interval))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        key = self.source_property
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise BadInput("input.sourceProperty", f"a property key is 1-{MAX_KEY_LENGTH} characters")
        if "\x00" in key:  # no stored key can hold one; PostgreSQL would refuse it unnamed
            raise BadInput("input.sourceProperty", "the NUL character is not allowed")
        points = count_periods_overlapping(self.from_, self.to, self.interval)
        if points > MAX_SERIES_POINTS:
            raise BadInput(
                "input.interval",
                f"the series would have {points} points (at most {MAX_SERIES_POINTS}); use a longer interval",
            )
        if self.people is not None:
            if not isinstance(self.people, Population):
                raise BadInput("input.people", "not a people filter")
            if self.people.is_everyone:  # `people: {}`: everyone, the report without a filter
                object.__setattr__(self, "people", None)

    def cache_key(self) -> str:
        # The population only when given: the key without it is the one it always was.
        key = ["revenue", self.from_.isoformat(), self.to.isoformat(), self.interval.value, self.source_property]
        if self.people is not None:
            key.append({"people": population_key(self.people)})
        return orjson.dumps(key).decode()


@dataclass(frozen=True)
class Money:
    total: Decimal
    gross: Decimal
    refunds: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@dataclass(frozen=True)
class RevenuePoint:
    start: datetime
    money: Money


@dataclass(frozen=True)
class RevenueSlice:
    value: str | None
    total: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@dataclass(frozen=True)
class RevenueResult:
    money: Money
    series: tuple[RevenuePoint, ...]
    by_source: tuple[RevenueSlice, ...]
    # topPeople.totalCount: people with at least one Revenue event in range.
    people_with_revenue: int


@dataclass(frozen=True)
class TopPeopleSpec:
    """One page of topPeople: the report's input plus first/after."""

    report: RevenueSpec
    first: int
    after: tuple[Decimal, uuid.UUID] | None = None

    def cache_key(self) -> str:
        after = None if self.after is None else [str(self.after[0]), str(self.after[1])]
        return orjson.dumps(["revenue.top", self.report.cache_key(), self.first, after]).decode()


@dataclass(frozen=True)
class TopPeoplePage:
    entries: tuple[tuple[uuid.UUID, Decimal], ...]
    has_next_page: bool


# ---------------------------------------------------------------- SQL pieces
# Parameters: $1 project, $2 from, $3 to, $4 sourceProperty.

def in_population(population: str | None) -> str:
    """The condition on events' person_id that keeps the population (the part
    named `population`), or nothing when everyone counts."""
    return "" if population is None else f" AND person_id IN (SELECT pp.id FROM {population} pp)"


def in_range_cte(population: str | None = None) -> str:
    """in_range: the Revenue events in [from, to) (of the population's people
    when it is given)."""
    return f"""
    in_range AS (
        SELECT person_id, ts, revenue
        FROM events
        WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= $2 AND ts < $3{in_population(population)}
    )"""


IN_RANGE_CTE = in_range_cte()


def periods_cte(interval: Period) -> str:
    """periods(start, stop): each interval period [start, stop) overlapping
    [$2, $3), none when empty. generate_series runs on UTC wall-clock
    timestamps: calendar months, no DST."""
    return f"""
    periods AS (
        SELECT s AT TIME ZONE 'UTC' AS start, (s + interval '{_SQL_STEP[interval]}') AT TIME ZONE 'UTC' AS stop
        FROM generate_series(date_trunc('{_SQL_UNIT[interval]}', $2::timestamptz AT TIME ZONE 'UTC'),
                             ($3::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                             interval '{_SQL_STEP[interval]}') AS s
        WHERE $2::timestamptz < $3::timestamptz
    )"""


# The sourceProperty that events_source indexes (db/migrations/0005_reports.sql):
# the tracker's first-touch property and the input's default.
INDEXED_SOURCE = "Campaign Source"


def _first_event_lookup(source_property: str | None) -> str:
    """The person p's first event, by (ts, seq), carrying the key (not JSON
    null): (ts, seq, value). For INDEXED_SOURCE the key is written as a
    literal, so that the partial index events_source always applies: one index
    probe. Any other key walks the person's events in time order on
    events_person_ts until one has it (quick when most events carry the key,
    every event of a person without it)."""
    key = "$4"
    if source_property == INDEXED_SOURCE:
        key = "'" + INDEXED_SOURCE.replace("'", "''") + "'"
    return f"""
            SELECT e.ts AS at, e.seq, e.properties -> {key}::text AS value
            FROM events e
            WHERE e.project_id = $1 AND e.person_id = p.person_id
              AND e.properties ? {key}::text AND e.properties -> {key}::text <> 'null'::jsonb
            ORDER BY e.ts, e.seq LIMIT 1"""


def person_source_cte(people: str = "per_person", source_property: str | None = None) -> str:
    """person_source(<people's columns>, value): the first non-null value of
    property $4, by time, among the person's property sets and events. Ties on
    time: a property set before an event (the tracker sets the campaign as a
    person property with its "Ad Campaign Hit"), then the earlier received
    (seq). The value is its text form (whodid_text); no value is NULL.

    `people` names a relation of distinct person ids (person_id), read once;
    each person gets two probes in one nested loop (no hash of either side):
    their first property set of the key and their first event carrying it
    (source_property = INDEXED_SOURCE takes the indexed lookup)."""
    return f"""
    person_source AS (
        SELECT p.*,
               whodid_text(CASE WHEN e.at IS NULL OR s.at <= e.at THEN s.value ELSE e.value END) AS value
        FROM {people} AS p
        LEFT JOIN LATERAL (
            SELECT c.at, c.value
            FROM property_changes c
            WHERE c.project_id = $1 AND c.person_id = p.person_id AND c.key = $4
              AND c.value IS NOT NULL AND c.value <> 'null'::jsonb
            ORDER BY c.at, c.seq LIMIT 1
        ) AS s ON true
        LEFT JOIN LATERAL ({_first_event_lookup(source_property)}
        ) AS e ON true
    )"""


def money(revenue: str = "revenue", person: str = "person_id") -> str:
    """total, gross, refunds, paying of the grouped rows."""
    return f"""
        coalesce(sum({revenue}), 0) AS total,
        coalesce(sum({revenue}) FILTER (WHERE {revenue} > 0), 0) AS gross,
        coalesce(sum({revenue}) FILTER (WHERE {revenue} < 0), 0) AS refunds,
        count(DISTINCT {person}) FILTER (WHERE {revenue} > 0) AS paying"""


# money() over per_person rows (sums per person; `paid`: a positive one): the
# same figures, from one row per person instead of one per event. Sums of
# per-person sums are the same exact NUMERIC values with the same scale.
PERSON_MONEY = """
        coalesce(sum(total), 0) AS total,
        coalesce(sum(gross), 0) AS gross,
        coalesce(sum(refunds), 0) AS refunds,
        count(*) FILTER (WHERE paid) AS paying"""


def avg_cents(total: str = "total", paying: str = "paying") -> str:
    """total / paying rounded half away from zero to cents, exactly: div() is exact
    integer division, so no intermediate rounding can move a half-cent."""
    return (
        f"CASE WHEN {paying} = 0 THEN 0.00"
        f" ELSE (sign({total}) * div(abs({total}) * 200 + {paying}, 2 * {paying})) * 0.01 END"
    )


def revenue_statement(project_id: uuid.UUID | None, spec: RevenueSpec) -> tuple[str, list]:
    """The statement ($1 … $4 as above; the population's values after) and its
    parameters."""
    q = Statement(Params(project_id, spec.from_, spec.to, spec.source_property))
    population = population_part(q, spec.people)
    head = "".join(f"\n{part.sql()}," for part in q.parts)
    return revenue_sql(spec, head, population), q.params.values


def revenue_sql(spec: RevenueSpec, head: str = "", population: str | None = None) -> str:
    """`head`: parts before in_range (the population, named `population`)."""
    return f"""
    WITH{head} {in_range_cte(population)},
    {periods_cte(spec.interval)},
    per_person AS MATERIALIZED (
        SELECT person_id,
               sum(revenue) AS total,
               sum(revenue) FILTER (WHERE revenue > 0) AS gross,
               sum(revenue) FILTER (WHERE revenue < 0) AS refunds,
               bool_or(revenue > 0) AS paid
        FROM in_range GROUP BY person_id ORDER BY person_id
    ),
    {person_source_cte("per_person", spec.source_property)},
    summary AS (SELECT {PERSON_MONEY} FROM per_person),
    series AS (
        -- One range of events_revenue per period: the events arrive grouped,
        -- with no date_trunc per event and no sort; empty periods give zeros.
        SELECT p.start, x.*
        FROM periods p
        CROSS JOIN LATERAL (
            SELECT {money()}
            FROM events
            WHERE project_id = $1 AND revenue IS NOT NULL
              AND ts >= greatest(p.start, $2::timestamptz) AND ts < least(p.stop, $3::timestamptz){in_population(population)}
        ) AS x
    ),
    sources AS (
        SELECT value, coalesce(sum(total), 0) AS total, count(*) FILTER (WHERE paid) AS paying
        FROM person_source
        GROUP BY value
    )
    SELECT m.total, m.gross, m.refunds, m.paying, {avg_cents("m.total", "m.paying")} AS average,
           (SELECT count(*) FROM per_person) AS people_with_revenue,
           ARRAY(SELECT start FROM series ORDER BY start) AS series_start,
           ARRAY(SELECT total FROM series ORDER BY start) AS series_total,
           ARRAY(SELECT gross FROM series ORDER BY start) AS series_gross,
           ARRAY(SELECT refunds FROM series ORDER BY start) AS series_refunds,
           ARRAY(SELECT paying FROM series ORDER BY start) AS series_paying,
           ARRAY(SELECT {avg_cents()} FROM series ORDER BY start) AS series_average,
           ARRAY(SELECT value FROM sources ORDER BY total DESC, value COLLATE "C" NULLS LAST) AS source_value,
           ARRAY(SELECT total FROM sources ORDER BY total DESC, value COLLATE "C" NULLS LAST) AS source_total,
           ARRAY(SELECT paying FROM sources ORDER BY total DESC, value COLLATE "C" NULLS LAST) AS source_paying,
           ARRAY(SELECT {avg_cents()} FROM sources ORDER BY total DESC, value COLLATE "C" NULLS LAST)
               AS source_average
    FROM summary m
    """

def build_result(r) -> RevenueResult:
    series = tuple(
        RevenuePoint(start=to_utc(start), money=Money(total, gross, refunds, paying, average))
        for start, total, gross, refunds, paying, average in zip(
            r["series_start"], r["series_total"], r["series_gross"], r["series_refunds"],
            r["series_paying"], r["series_average"], strict=True,
        )
    )
    by_source = tuple(
        RevenueSlice(value, total, paying, average)
        for value, total, paying, average in zip(
            r["source_value"], r["source_total"], r["source_paying"], r["source_average"], strict=True
        )
    )
    return RevenueResult(
        money=Money(r["total"], r["gross"], r["refunds"], r["paying"], r["average"]),
        series=series,
        by_source=by_source,
        people_with_revenue=r["people_with_revenue"],
    )


async def compute_revenue(conn, project_id: uuid.UUID, spec: RevenueSpec) -> RevenueResult:
    """The revenue report; `conn` is a connection or a pool."""
    sql, params = revenue_statement(project_id, spec)
    record = await cluster.reads(conn).fetchrow(sql, *params)
    return build_result(record)


# ---------------------------------------------------------------- topPeople

def top_people_sql(head: str = "", population: str | None = None) -> str:
    """Parameters: $1 project, $2 from, $3 to, $4/$5 the cursor (sum, id), $6
    the page size plus one; `head`: the population part, named `population`."""
    return f"""
    WITH{head} {in_range_cte(population)},
    sums AS (SELECT person_id, sum(revenue) AS revenue FROM in_range GROUP BY person_id)
    SELECT person_id, revenue FROM sums
    WHERE $4::numeric IS NULL OR revenue < $4::numeric OR (revenue = $4::numeric AND person_id > $5::uuid)
    ORDER BY revenue DESC, person_id
    LIMIT $6
"""


TOP_PEOPLE_SQL = top_people_sql()


async def top_people(conn, project_id: uuid.UUID, spec: TopPeopleSpec) -> TopPeoplePage:
    """People with Revenue events in range by their sum descending, then id; the
    page after the cursor (sum, id)."""
    after_revenue, after_id = spec.after if spec.after is not None else (None, None)
    q = Statement(Params(project_id, spec.report.from_, spec.report.to, after_revenue, after_id, spec.first + 1))
    population = population_part(q, spec.report.people)
    head = "".join(f"\n{part.sql()}," for part in q.parts)
    rows = await cluster.reads(conn).fetch(top_people_sql(head, population), *q.params.values)
    entries = tuple((r["person_id"], r["revenue"]) for r in rows[: spec.first])
    return TopPeoplePage(entries=entries, has_next_page=len(rows) > spec.first)

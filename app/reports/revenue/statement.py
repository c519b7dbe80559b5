"""The revenue report (DESIGN.md §5 Revenue) as one statement of named parts
(app/reports/sql.py), each from a small function below:

- `population` (only with a people filter): the persons who count;
- `in_range`: the Revenue events (revenue IS NOT NULL) with from ≤ ts < to, an
  index-only scan of events_revenue;
- `periods`: every interval period [start, stop) overlapping [from, to),
  generated in UTC wall-clock time so that '1 month' steps are calendar
  months;
- `per_person`: in_range summed per person (total, gross, refunds, whether
  any was positive), in person order — the summary, bySource and topPeople's
  count read these ~9k rows instead of ~33k events (sums of per-person sums
  are the same exact NUMERICs); over a long range they stream from an
  index-only scan of events_revenue_person (db/migrations/0011), no hash;
- `person_source`: each paying person's first-touch source, the first non-null
  value of sourceProperty by time among their property sets and all their
  events: per person (in person order, so consecutive probes touch nearby
  index pages), the first property set (index probe on
  property_changes_person) against the first event carrying the key — an
  index probe on `events_source` (db/migrations/0005_reports.sql) for the
  default "Campaign Source" (read from the heap only when the event can win:
  see person_source_part), else a walk of the person's events in time order
  until one has the key;
- `summary`, `series` (each period summed over its own range of
  events_revenue: no date_trunc per event, no sort) and `sources`;
- the final SELECT: rows of the named kinds of RowKind (app/reports/revenue/
  assembly.py) — one summary, the periods by start, the sources in the
  answer's order.

`money(...)` gives total, gross, refunds, paying people of any group of
events, and `avg_cents(...)` the average per paying person rounded half-up to
cents with exact integer division. topPeople pages come from a second,
keyset-paginated statement (`build_top_people`). All money is NUMERIC end to
end: asyncpg hands back Decimals.
"""
from __future__ import annotations

import textwrap
import uuid
from dataclasses import dataclass
from typing import Any

from ...storage.filters import Params
from ..periods import Period
from ..population import population_part
from ..sql import Statement, and_condition, person_id_ranges
from .assembly import RowKind
from .spec import RevenueSpec, TopPeopleSpec

_SQL_STEP = {Period.HOUR: "1 hour", Period.DAY: "1 day", Period.WEEK: "7 days", Period.MONTH: "1 month"}
_SQL_UNIT = {Period.HOUR: "hour", Period.DAY: "day", Period.WEEK: "week", Period.MONTH: "month"}

# The sourceProperty that events_source indexes (db/migrations/0005_reports.sql):
# the tracker's first-touch property and the input's default.
INDEXED_SOURCE = "Campaign Source"

# The order of bySource: total descending, then the value by code point
# (COLLATE "C", whatever the database's collation), no value last.
SOURCE_ORDER = 'total DESC, value COLLATE "C" NULLS LAST'


def _part(q: Statement, name: str, body: str, *, materialized: bool | None = None) -> str:
    """q.part with the body's common indentation removed (as the golden files show it)."""
    return q.part(name, textwrap.dedent(body), materialized=materialized)


@dataclass(frozen=True)
class Range:
    """The placeholders of the report's [from, to)."""

    from_: str
    to: str


def in_population(population: str | None) -> str:
    """The condition on events' person_id that keeps the population (the part
    named `population`), or nothing when everyone counts."""
    return "" if population is None else f" AND person_id IN (SELECT pp.id FROM {population} pp)"


def in_range_part(q: Statement, r: Range, population: str | None, ids: str | None = None) -> str:
    """in_range(person_id, ts, revenue): the Revenue events in [from, to) (of
    the population's people when it is given; of the persons whose id meets
    `ids`, a person_id_ranges condition, when given: build_parts)."""
    return _part(q, "in_range", f"""
        SELECT person_id, ts, revenue
        FROM events
        WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= {r.from_} AND ts < {r.to}{in_population(population)}\
{and_condition(ids)}""")


def periods_part(q: Statement, interval: Period, r: Range) -> str:
    """periods(start, stop): each interval period [start, stop) overlapping
    [from, to), none when empty. generate_series runs on UTC wall-clock
    timestamps: calendar months, no DST."""
    step, unit = _SQL_STEP[interval], _SQL_UNIT[interval]
    return _part(q, "periods", f"""
        SELECT s AT TIME ZONE 'UTC' AS start, (s + interval '{step}') AT TIME ZONE 'UTC' AS stop
        FROM generate_series(date_trunc('{unit}', {r.from_}::timestamptz AT TIME ZONE 'UTC'),
                             ({r.to}::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                             interval '{step}') AS s
        WHERE {r.from_}::timestamptz < {r.to}::timestamptz""")


def per_person_part(q: Statement, in_range: str) -> str:
    """per_person(person_id, total, gross, refunds, paid): in_range summed per
    person, in person order, computed once. `paid` (a positive event) is
    whether gross has a value: the same aggregate, no bool_or per event."""
    return _part(q, "per_person", f"""
        SELECT person_id,
               sum(revenue) AS total,
               sum(revenue) FILTER (WHERE revenue > 0) AS gross,
               sum(revenue) FILTER (WHERE revenue < 0) AS refunds,
               sum(revenue) FILTER (WHERE revenue > 0) IS NOT NULL AS paid
        FROM {in_range} GROUP BY person_id ORDER BY person_id""", materialized=True)


def _quoted(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def first_event_lookup(key: str, source_property: str, gate: str = "") -> str:
    """The person p's first event, by (ts, seq), carrying the key (not JSON
    null): (at, seq, value). For INDEXED_SOURCE the key is written as a
    literal, so that the partial index events_source always applies: one index
    probe. Any other key (`key`: its placeholder) walks the person's events in
    time order on events_person_ts until one has it (quick when most events
    carry the key, every event of a person without it). `gate`: a condition
    on the outer rows only (a one-time filter: when false, no probe)."""
    if source_property == INDEXED_SOURCE:
        key = _quoted(INDEXED_SOURCE)
    return f"""
            SELECT e.ts AS at, e.seq, e.properties -> {key}::text AS value
            FROM events e
            WHERE {gate}e.project_id = $1 AND e.person_id = p.person_id
              AND e.properties ? {key}::text AND e.properties -> {key}::text <> 'null'::jsonb
            ORDER BY e.ts, e.seq LIMIT 1"""


def first_carrier_lookup() -> str:
    """The time of the person p's first event carrying INDEXED_SOURCE, its
    value null or not: an index-only probe of events_source (no heap page)."""
    key = _quoted(INDEXED_SOURCE)
    return f"""
            SELECT e.ts AS at
            FROM events e
            WHERE e.project_id = $1 AND e.person_id = p.person_id AND e.properties ? {key}::text
            ORDER BY e.ts, e.seq LIMIT 1"""


def person_source_part(q: Statement, people: str, key: str, source_property: str) -> str:
    """person_source(<people's columns>, value): the first non-null value of
    the property `key` (its placeholder), by time, among the person's property
    sets and events. Ties on time: a property set before an event (the tracker
    sets the campaign as a person property with its "Ad Campaign Hit"), then
    the earlier received (seq). The value is its text form (whodid_text); no
    value is NULL.

    `people` names a relation of distinct person ids (person_id), read once;
    each person gets probes in one nested loop (no hash of either side):
    their first property set of the key (s) and their first event carrying it
    (e). For INDEXED_SOURCE, first the time of their first event carrying the
    key at all (f, index-only): when there is none, or the property set is no
    later (the tracker's case: the campaign set with its event), the event
    cannot win and is not read (e is NULL: s.value, the same answer); only
    otherwise is e probed, on the heap."""
    carrier, gate = "", ""
    if source_property == INDEXED_SOURCE:
        carrier = f"""
        LEFT JOIN LATERAL ({first_carrier_lookup()}
        ) AS f ON true"""
        gate = "f.at IS NOT NULL AND (s.at IS NULL OR f.at < s.at)\n              AND "
    return _part(q, "person_source", f"""
        SELECT p.*,
               whodid_text(CASE WHEN e.at IS NULL OR s.at <= e.at THEN s.value ELSE e.value END) AS value
        FROM {people} AS p
        LEFT JOIN LATERAL (
            SELECT c.at, c.value
            FROM property_changes c
            WHERE c.project_id = $1 AND c.person_id = p.person_id AND c.key = {key}
              AND c.value IS NOT NULL AND c.value <> 'null'::jsonb
            ORDER BY c.at, c.seq LIMIT 1
        ) AS s ON true{carrier}
        LEFT JOIN LATERAL ({first_event_lookup(key, source_property, gate)}
        ) AS e ON true""")


def money(revenue: str = "revenue", person: str = "person_id", sep: str = ",\n") -> str:
    """total, gross, refunds, paying of the grouped rows (`sep` between them)."""
    return sep.join([
        f"coalesce(sum({revenue}), 0) AS total",
        f"coalesce(sum({revenue}) FILTER (WHERE {revenue} > 0), 0) AS gross",
        f"coalesce(sum({revenue}) FILTER (WHERE {revenue} < 0), 0) AS refunds",
        f"count(DISTINCT {person}) FILTER (WHERE {revenue} > 0) AS paying",
    ])


def person_money(sep: str = ",\n") -> str:
    """money() over per_person rows (sums per person; `paid`: a positive one):
    the same figures, from one row per person instead of one per event. Sums
    of per-person sums are the same exact NUMERIC values with the same scale."""
    return sep.join([
        "coalesce(sum(total), 0) AS total",
        "coalesce(sum(gross), 0) AS gross",
        "coalesce(sum(refunds), 0) AS refunds",
        "count(*) FILTER (WHERE paid) AS paying",
    ])


def avg_cents(total: str = "total", paying: str = "paying") -> str:
    """total / paying rounded half away from zero to cents, exactly: div() is exact
    integer division, so no intermediate rounding can move a half-cent."""
    return (
        f"CASE WHEN {paying} = 0 THEN 0.00"
        f" ELSE (sign({total}) * div(abs({total}) * 200 + {paying}, 2 * {paying})) * 0.01 END"
    )


def summary_part(q: Statement, per_person: str) -> str:
    """summary(total, gross, refunds, paying, people): the whole range; people:
    everyone with a Revenue event in it (topPeople's totalCount)."""
    sums = person_money(",\n" + " " * 15)
    return _part(q, "summary", f"""
        SELECT {sums},
               count(*) AS people
        FROM {per_person}""")


def series_part(q: Statement, periods: str, r: Range, population: str | None) -> str:
    """series(start, total, gross, refunds, paying): one range of
    events_revenue per period: the events arrive grouped, with no date_trunc
    per event and no sort; empty periods give zeros."""
    sums = money(sep=",\n" + " " * 19)
    return _part(q, "series", f"""
        SELECT p.start, x.*
        FROM {periods} p
        CROSS JOIN LATERAL (
            SELECT {sums}
            FROM events
            WHERE project_id = $1 AND revenue IS NOT NULL
              AND ts >= greatest(p.start, {r.from_}::timestamptz) AND ts < least(p.stop, {r.to}::timestamptz)\
{in_population(population)}
        ) AS x""")


def sources_part(q: Statement, person_source: str) -> str:
    """sources(value, total, paying): per first-touch value."""
    return _part(q, "sources", f"""
        SELECT value, coalesce(sum(total), 0) AS total, count(*) FILTER (WHERE paid) AS paying
        FROM {person_source}
        GROUP BY value""")



def answer_select(summary: str, series: str | None, sources: str) -> str:
    """The final SELECT: the rows (kind, n, start, value, total, gross,
    refunds, paying, average, people) of the kinds of RowKind, in the
    answer's order, from the parts `summary`, `series` and `sources` (the
    plain statement's or the per-shard one's; no `series`: no PERIOD rows,
    build_parts)."""
    period = "" if series is None else f"""
UNION ALL
SELECT '{RowKind.PERIOD.value}', row_number() OVER (ORDER BY start), start, NULL,
       total, gross, refunds, paying, {avg_cents()}, NULL
FROM {series}"""
    return f"""
SELECT '{RowKind.SUMMARY.value}' AS kind, 0 AS n, NULL::timestamptz AS start, NULL::text AS value,
       total, gross, refunds, paying, {avg_cents()} AS average, people
FROM {summary}{period}
UNION ALL
SELECT '{RowKind.SOURCE.value}', row_number() OVER (ORDER BY {SOURCE_ORDER}), NULL, value,
       total, NULL, NULL, paying, {avg_cents()}, NULL
FROM {sources}
ORDER BY kind, n"""


def build(project_id: uuid.UUID, spec: RevenueSpec) -> tuple[str, list[Any]]:
    """Rows (kind, start, value, total, gross, refunds, paying, average,
    people) of the kinds of RowKind, in the answer's order."""
    return _statement(project_id, spec, None, with_series=True)


def _statement(project_id: uuid.UUID, spec: RevenueSpec, ids: str | None, *, with_series: bool
               ) -> tuple[str, list[Any]]:
    """build's statement over the persons whose id meets `ids` (a
    person_id_ranges condition; None: everyone), its PERIOD rows only
    `with_series` (build_parts: the first part's)."""
    q = Statement(Params(project_id))
    r = Range(q.param(spec.from_), q.param(spec.to))
    key = q.param(spec.source_property)
    population = population_part(q, spec.people)
    in_range = in_range_part(q, r, population, ids)
    periods = periods_part(q, spec.interval, r) if with_series else None
    per_person = per_person_part(q, in_range)
    person_source = person_source_part(q, per_person, key, spec.source_property)
    summary = summary_part(q, per_person)
    series = series_part(q, periods, r, population) if periods is not None else None
    sources = sources_part(q, person_source)
    return q.select(answer_select(summary, series, sources))


def build_parts(project_id: uuid.UUID, spec: RevenueSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges):
    each build's SUMMARY and SOURCE rows over the persons of its range (their
    per-person sums and first-touch sources: the lookups per person are the
    report's cost), the first one also the PERIOD rows of everyone (one
    index range per period, not per person). Run side by side on
    connections of one snapshot (ReportService, ReportKind.build_parts); a
    person is in one range, so the assembly adds the SUMMARY rows and the
    SOURCE rows of one value up (money, paying people and people are sums
    over persons) and computes their averages and the sources' order."""
    return [_statement(project_id, spec, ids, with_series=i == 0)
            for i, ids in enumerate(person_id_ranges(parts, "person_id"))]


def build_top_people(project_id: uuid.UUID, page: TopPeopleSpec, *,
                     materialized: bool = True) -> tuple[str, list[Any]]:
    """Rows (person_id, revenue): people with Revenue events in range by their
    sum descending, then id; the page after the cursor (sum, id), and one row
    more when there is a next page. materialized: the population's part's."""
    q = Statement(Params(project_id))
    r = Range(q.param(page.report.from_), q.param(page.report.to))
    after_revenue, after_id = page.after if page.after is not None else (None, None)
    revenue, person = q.param(after_revenue), q.param(after_id)
    limit = q.param(page.first + 1)
    in_range = in_range_part(q, r, population_part(q, page.report.people, materialized=materialized))
    sums = _part(q, "sums", f"SELECT person_id, sum(revenue) AS revenue FROM {in_range} GROUP BY person_id")
    return q.select(f"""
SELECT person_id, revenue FROM {sums}
WHERE {revenue}::numeric IS NULL OR revenue < {revenue}::numeric
   OR (revenue = {revenue}::numeric AND person_id > {person}::uuid)
ORDER BY revenue DESC, person_id
LIMIT {limit}""")


# ------------------------------------------------------------ per shard (Citus)
#
# On a Citus cluster distributed by person (docs/scaling.md) the report is two
# distributed steps, each run on every shard with the shards' partial sums
# added up on the coordinator: `source_sums` (per person, their sums and
# first-touch source by the lateral probes on their own shard, grouped per
# value) and `series_sums` (the events grouped per period). The coordinator
# then derives the summary from the sources' rows and joins the periods.
# Every part that reads a distributed table is NOT MATERIALIZED (inlined where
# used): a part Citus had to materialize would pull its rows to the
# coordinator.


def period_start_sql(interval: Period, ts: str) -> str:
    """The start of the interval period holding `ts` (a timestamptz): the
    `start` that periods_part generates for it (UTC wall time, calendar
    months, ISO weeks from Monday)."""
    return f"date_trunc('{_SQL_UNIT[interval]}', {ts} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def per_person_sums(in_range: str, group: str = "person_id") -> str:
    """total, gross, refunds, paid of in_range grouped by `group` (which holds
    person_id): the columns of per_person_part."""
    return f"""SELECT {group},
               sum(revenue) AS total,
               sum(revenue) FILTER (WHERE revenue > 0) AS gross,
               sum(revenue) FILTER (WHERE revenue < 0) AS refunds,
               sum(revenue) FILTER (WHERE revenue > 0) IS NOT NULL AS paid
        FROM {in_range} GROUP BY {group}"""


def shard_sources_part(q: Statement, person_source: str) -> str:
    """source_sums(value, total, gross, refunds, paying, people): per
    first-touch value, its people's sums (per person, their own shard's
    probes), how many paid and how many they are; grouped by value on every
    shard, the shards' rows added up on the coordinator. Sums of per-person
    sums are the same exact NUMERICs (the scale is the largest of the events'
    either way)."""
    return _part(q, "source_sums", f"""
        SELECT value, sum(total) AS total, sum(gross) AS gross, sum(refunds) AS refunds,
               count(*) FILTER (WHERE paid) AS paying, count(*) AS people
        FROM {person_source}
        GROUP BY value""", materialized=True)


def shard_series_part(q: Statement, interval: Period, in_range: str) -> str:
    """series_sums(start, total, gross, refunds, paying): money() per period
    holding Revenue events, grouped by the period's start on every shard.
    Its count(DISTINCT person_id) is of the distribution column: a person's
    events are all on one shard, so Citus adds up the shards' counts."""
    return _part(q, "series_sums", f"""
        SELECT {period_start_sql(interval, "ts")} AS start, {money(sep=", ")}
        FROM {in_range}
        GROUP BY 1""", materialized=True)


def build_per_shard(project_id: uuid.UUID, spec: RevenueSpec) -> tuple[str, list[Any]] | None:
    """build for a Citus cluster: the same rows from two distributed steps
    (above); the summary is the sources' rows added up (every person with a
    Revenue event in range has exactly one first-touch value, NULL
    included), the series the periods joined to the period sums (zeros for
    the others). A people filter's population is inlined (a semi-join with
    the persons of the same shard)."""
    q = Statement(Params(project_id))
    r = Range(q.param(spec.from_), q.param(spec.to))
    key = q.param(spec.source_property)
    population = population_part(q, spec.people, materialized=False)
    in_range = _part(q, "in_range", f"""
        SELECT person_id, ts, revenue
        FROM events
        WHERE project_id = $1 AND revenue IS NOT NULL AND ts >= {r.from_} AND ts < {r.to}{in_population(population)}""",
                     materialized=False)
    periods = periods_part(q, spec.interval, r)
    # In person order (as per_person_part): a GroupAggregate streaming from
    # events_revenue_person, and the person_source probes of consecutive
    # persons touch nearby index pages.
    per_person = _part(q, "per_person", per_person_sums(in_range) + " ORDER BY person_id", materialized=False)
    person_source = person_source_part(q, per_person, key, spec.source_property)
    source_sums = shard_sources_part(q, person_source)
    series_sums = shard_series_part(q, spec.interval, in_range)
    summary = _part(q, "summary", f"""
        SELECT coalesce(sum(total), 0) AS total, coalesce(sum(gross), 0) AS gross,
               coalesce(sum(refunds), 0) AS refunds, coalesce(sum(paying), 0)::bigint AS paying,
               coalesce(sum(people), 0)::bigint AS people
        FROM {source_sums}""")
    zero = "coalesce(f.{0}, 0) AS {0}"
    series = _part(q, "series", f"""
        SELECT p.start, {", ".join(zero.format(c) for c in ("total", "gross", "refunds", "paying"))}
        FROM {periods} p LEFT JOIN {series_sums} f ON f.start = p.start""")
    sources = _part(q, "sources", f"SELECT value, total, paying FROM {source_sums}")
    return q.select(answer_select(summary, series, sources))


def build_top_people_per_shard(project_id: uuid.UUID, page: TopPeopleSpec) -> tuple[str, list[Any]] | None:
    """build_top_people for a Citus cluster: its statement (the sums grouped
    by person_id, the page's ORDER BY … LIMIT run on every shard and the
    shards' pages merged on the coordinator), a people filter's population
    inlined."""
    return build_top_people(project_id, page, materialized=False)

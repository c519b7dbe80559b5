"""The trends report as one statement of named parts (app/reports/sql.py).

- `population` (only with a people filter): the persons who count;
- `matched`: every series' matching events in [from, to), one UNION ALL
  branch per input series, each a range of events_name_ts (project, name,
  ts): (series, person_id, start = the UTC period holding ts, value = the
  numeric property for SUM..MEDIAN, bvalue = the breakdown value by the text
  rule of segmentBy, in the "C" collation: compared and sorted by code point,
  quickly), the person's value from `person_values`, once per person;
- `ranked` (breakdown only): each series' values ranked by matching events
  descending, then value ascending (code point order); the top
  `limit` keep their rank, the others and missing fall to rank NULL;
- the final SELECT aggregates per (series, rank, start) and per (series,
  rank) over the whole range (GROUPING SETS): the `total` of the same math,
  PEOPLE distinct over the range. Only the aggregates some series needs are
  computed (NULL otherwise); the median is exact, the mean of the lower and
  the upper middle value (percentile_disc ascending and descending).

Assembly (assembly.py) picks each series' math, fills empty periods and
orders the series. The peopleList of a PEOPLE point is `build_people`:
the same parts for one series, the distinct persons of one point, by id.
"""
from __future__ import annotations

import uuid
from typing import Any

from ...storage.filters import Params, PropertyFilter, filters_sql
from ..periods import Period
from ..population import population_part
from ..sql import Statement
from .spec import TrendMath, TrendPeopleSpec, TrendsSpec


# Fixed-length periods are bins from a Monday 00:00 UTC (ISO weeks start on
# Monday): date_bin is integer arithmetic, where date_trunc(..., 'UTC') looks
# the zone up for every event (stickiness at 200k events: 55-76 -> 41-59 ms).
_BIN = {Period.HOUR: "1 hour", Period.DAY: "1 day", Period.WEEK: "7 days"}


def period_of(column: str, interval: Period) -> str:
    """The start of the UTC period holding a timestamptz expression (a timestamptz)."""
    interval = Period(interval)
    if interval is Period.MONTH:
        return f"(date_trunc('month', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"date_bin('{_BIN[interval]}', {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"


def event_conditions(
    q: Statement, event: str, where: tuple[PropertyFilter, ...], from_: str, to: str, population: str | None
) -> str:
    """The conditions on `events e` of a matching event in [from_, to) (placeholders)."""
    cond = [
        "e.project_id = $1",
        f"e.name = {q.param(event)}::text",
        f"e.ts >= {from_}::timestamptz",
        f"e.ts < {to}::timestamptz",
    ]
    if where:
        cond.append(filters_sql("e.properties", list(where), q.params))
    if population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {population})")
    return "\n  AND ".join(cond)


def person_values_part(q: Statement, key: str) -> str:
    """person_values(id, bvalue): each live person's current value of the
    breakdown's person property, computed once per person, not per event."""
    return q.part(
        "person_values",
        f"SELECT p.id, whodid_text(p.properties -> {q.param(key)}::text) COLLATE \"C\" AS bvalue\n"
        "FROM persons p WHERE p.project_id = $1 AND p.merged_into IS NULL",
    )


def matched_part(q: Statement, spec: TrendsSpec, series: list[int], population: str | None) -> str:
    """matched(series, person_id, start, value, bvalue) of the given input series."""
    b = spec.breakdown
    values = None if b is None or b.person_property is None else person_values_part(q, b.person_property)
    from_, to = q.param(spec.from_), q.param(spec.to)
    key = None if b is None or b.event_property is None else q.param(b.event_property)
    branches = []
    for i in series:
        s = spec.series[i]
        value = (
            f"whodid_numeric(e.properties -> {q.param(s.property)}::text)" if s.math.of_property else "NULL::numeric"
        )
        bvalue = "" if values is not None else (
            ", NULL::text AS bvalue" if key is None
            else f", whodid_text(e.properties -> {key}::text) COLLATE \"C\" AS bvalue"
        )
        branches.append(
            f"SELECT {i} AS series, e.person_id, {period_of('e.ts', spec.interval)} AS start,"
            f" {value} AS value{bvalue}\n"
            f"FROM events e\n"
            f"WHERE {event_conditions(q, s.event, s.where, from_, to, population)}"
        )
    body = "\nUNION ALL\n".join(branches)
    if values is not None:
        body = f"SELECT u.*, v.bvalue\nFROM (\n{body}\n) AS u\nLEFT JOIN {values} v ON v.id = u.person_id"
    return q.part("matched", body, materialized=b is not None)


def ranked_part(q: Statement, spec: TrendsSpec, matched: str) -> str:
    """ranked(series, bvalue, rank): each series' kept breakdown values."""
    assert spec.breakdown is not None
    return q.part(
        "ranked",
        f"""SELECT series, bvalue, rank FROM (
  SELECT series, bvalue,
         row_number() OVER (PARTITION BY series ORDER BY count(*) DESC, bvalue) AS rank
  FROM {matched}
  WHERE bvalue IS NOT NULL
  GROUP BY series, bvalue
) AS r
WHERE rank <= {q.param(spec.breakdown.limit)}""",
    )


def _among(series: list[int]) -> str:
    return f"m.series IN ({', '.join(str(i) for i in series)})"


def aggregates(spec: TrendsSpec) -> str:
    """The aggregates over `m` that the series' maths need (NULL otherwise)."""
    def of(*maths: TrendMath) -> list[int]:
        return [i for i, s in enumerate(spec.series) if s.math in maths]

    people = of(TrendMath.PEOPLE, TrendMath.EVENTS_PER_PERSON)
    numeric = of(TrendMath.SUM, TrendMath.AVERAGE, TrendMath.MIN, TrendMath.MAX, TrendMath.MEDIAN)
    median = of(TrendMath.MEDIAN)
    out = ["count(*) AS events"]
    out.append(
        f"count(DISTINCT m.person_id) FILTER (WHERE {_among(people)}) AS people" if people else "NULL::bigint AS people"
    )
    if numeric:
        out += ["count(m.value) AS n_values", "sum(m.value) AS sum", "min(m.value) AS min", "max(m.value) AS max"]
    else:
        out += ["0::bigint AS n_values", "NULL::numeric AS sum", "NULL::numeric AS min", "NULL::numeric AS max"]
    if median:
        out += [
            f"percentile_disc(0.5) WITHIN GROUP (ORDER BY m.value) FILTER (WHERE {_among(median)}) AS median_low",
            f"percentile_disc(0.5) WITHIN GROUP (ORDER BY m.value DESC) FILTER (WHERE {_among(median)})"
            " AS median_high",
        ]
    else:
        out += ["NULL::numeric AS median_low", "NULL::numeric AS median_high"]
    return ",\n       ".join(out)


def build(project_id: uuid.UUID, spec: TrendsSpec) -> tuple[str, list[Any]]:
    q = Statement(Params(project_id))
    population = population_part(q, spec.people)
    matched = matched_part(q, spec, list(range(len(spec.series))), population)
    if spec.breakdown is None:
        return q.select(
            f"""SELECT m.series, NULL::bigint AS rank, NULL::text AS bvalue, m.start, GROUPING(m.start) = 1 AS is_total,
       {aggregates(spec)}
FROM {matched} m
GROUP BY GROUPING SETS ((m.series, m.start), (m.series))"""
        )
    # Grouped by the rank (an integer: a quick sort), the value joined after.
    ranked = ranked_part(q, spec, matched)
    grouped = q.part(
        "grouped",
        f"""SELECT m.series, r.rank, m.start, GROUPING(m.start) = 1 AS is_total,
       {aggregates(spec)}
FROM {matched} m
LEFT JOIN {ranked} r ON r.series = m.series AND r.bvalue = m.bvalue
GROUP BY GROUPING SETS ((m.series, r.rank, m.start), (m.series, r.rank))""",
    )
    return q.select(
        f"SELECT g.*, r.bvalue FROM {grouped} g\nLEFT JOIN {ranked} r ON r.series = g.series AND r.rank = g.rank"
    )


def build_people(project_id: uuid.UUID, page: TrendPeopleSpec) -> tuple[str, list[Any]]:
    """(total, ids): the distinct persons of one point of one output series
    (every one: total; the page after `page.after`: ids, by person id)."""
    spec = page.report
    q = Statement(Params(project_id))
    population = population_part(q, spec.people)
    matched = matched_part(q, spec, [page.series], population)
    cond = [f"m.start = {q.param(page.start)}::timestamptz"]
    source = f"{matched} m"
    if spec.breakdown is not None:
        ranked = ranked_part(q, spec, matched)
        source += f"\nLEFT JOIN {ranked} r ON r.series = m.series AND r.bvalue = m.bvalue"
        cond.append("r.rank IS NULL" if page.rank is None else f"r.rank = {q.param(page.rank)}")
    people = q.part("people", f"SELECT DISTINCT m.person_id FROM {source}\nWHERE " + " AND ".join(cond))
    after = q.param(page.after)
    return q.select(
        f"""SELECT (SELECT count(*) FROM {people}) AS total,
       ARRAY(SELECT person_id FROM {people}
             WHERE {after}::uuid IS NULL OR person_id > {after}::uuid
             ORDER BY person_id LIMIT {q.param(page.first + 1)}) AS ids"""
    )

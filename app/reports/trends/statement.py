"""The trends report as one statement of named parts (app/reports/sql.py).

- `population` (only with a people filter): the persons who count;
- without a breakdown or by a person property (`build`, the person's value
  from `person_values`, once per person):
  - `marked`: every series' matching events in [from, to), one UNION ALL
    branch per input series read in the order of events_name_person_ts
    (person, newest first), with their period `start`, the numeric `value`
    for SUM..MEDIAN, and two marks from one window over the person's events
    (no sort): `first_in_period` (the newer neighbour is in another period,
    or there is none) and `first_of_person` (no newer neighbour). Only the
    series whose math counts people (PEOPLE, EVENTS_PER_PERSON) have the
    window; the others' marks are NULL (their people are never read) and
    their events come in any order;
  - `cells`: per (series, breakdown value, period) the events, the people
    (the marked events: each person once per period, and once over the
    range in `range_people`) and the values' aggregates; a few thousand rows
    hashed, never a hash per (person, period);
  - `ranked`: each series' values ranked by matching events descending,
    then value ascending (code point order); the top `limit` keep their
    rank, the others and missing fall to rank 0 (the null series);
  - `folded`: the cells added up per (series, rank, period) and per (series,
    rank) over the range (GROUPING SETS). A person has one value, so no
    person is in two of the cells added up: the people stay exact;
  - MEDIAN (`medians`) reads its series' events once more (`matched`,
    `tagged`: below), in value order;
- by an event property (a person may be in several values, so the people of
  the null series need a distinct over the events):
  - `matched`: every series' matching events in [from, to), one UNION ALL
    branch per input series, each a range of events_name_ts (project, name,
    ts): (series, person_id, start = the UTC period holding ts, value,
    bvalue = the breakdown value by the text rule of segmentBy, in the "C"
    collation: compared and sorted by code point, quickly);
  - `ranked`, as above, from `matched`; `tagged`: each event with its rank;
  - the aggregates per (series, rank, start) and per (series, rank) over the
    whole range: the `total` of the same math, PEOPLE distinct over the
    range. Only the aggregates some series needs are computed (NULL
    otherwise); the median is exact, the mean of the lower and the upper
    middle value (percentile_disc ascending and descending).

On a Citus cluster `build_per_shard` gives the same parts shaped so that
Citus runs each per-person part on every shard and only adds up partial
counts on the coordinator (docs/scaling.md, "Reports on Citus"); a MEDIAN
from the shards' counts per distinct value (medians_from_counts_part).

`build_parts` cuts the report by ranges of person ids, a statement each
(`build_part`: the `cells` above, or by an event property their
aggregation of `matched`, per raw breakdown value, and a MEDIAN's values
sorted), whose rows the assembly folds (assembly.py `fold_parts`).

Assembly (assembly.py) picks each series' math, fills empty periods and
orders the series. The peopleList of a PEOPLE point is `build_people`:
the same parts for one series, the distinct persons of one point, by id.
"""
from __future__ import annotations

import uuid
from typing import Any

from ...storage.filters import Params, PropertyFilter, filters_sql, text_form
from ..periods import Period
from ..population import population_part
from ..sql import IdRange, Statement, and_condition, in_part
from .spec import TrendMath, TrendPeopleSpec, TrendsSpec


# Fixed-length periods are bins from a Monday 00:00 UTC (ISO weeks start on
# Monday): date_bin is integer arithmetic, where date_trunc(..., 'UTC') looks
# the zone up for every event (stickiness at 200k events: 55-76 -> 41-59 ms).
_BIN = {Period.HOUR: "1 hour", Period.DAY: "1 day", Period.WEEK: "7 days"}


# The maths that count people: only their series need the window's marks.
_OF_PEOPLE = frozenset({TrendMath.PEOPLE, TrendMath.EVENTS_PER_PERSON})

# A person's events newest first, in the order of events_name_person_ts (no
# sort). The frame is ROWS: lag/lead ignore the frame, and a RANGE frame (the
# default with ORDER BY) makes the window compare every row with the next for
# peers (lifecycle at 1M events: window 223 -> 197 ms of backend CPU).
PERSON_NEWEST_FIRST = "PARTITION BY person_id ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


def period_of(column: str, interval: Period) -> str:
    """The start of the UTC period holding a timestamptz expression (a timestamptz)."""
    interval = Period(interval)
    if interval is Period.MONTH:
        return f"(date_trunc('month', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"date_bin('{_BIN[interval]}', {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"


def event_conditions(
    q: Statement, event: str, where: tuple[PropertyFilter, ...], from_: str, to: str, population: str | None,
    part: IdRange | None = None, bounded: bool = True,
) -> str:
    """The conditions on `events e` of a matching event in [from_, to)
    (placeholders); of the persons of `part` only, when given (build_parts).
    bounded=False: without the range's two conditions (for a scan that only
    runs when every event of the name is in the range: stickiness'
    range_covered)."""
    cond = ["e.project_id = $1", f"e.name = {q.param(event)}::text"]
    if bounded:
        cond += [f"e.ts >= {from_}::timestamptz", f"e.ts < {to}::timestamptz"]
    if where:
        cond.append(filters_sql("e.properties", list(where), q.params))
    if population is not None:
        cond.append(f"e.person_id IN (SELECT id FROM {population})")
    ids = in_part(part, "e.person_id")
    if ids is not None:
        cond.append(ids)
    return "\n  AND ".join(cond)


def person_values_part(q: Statement, key: str, materialized: bool | None = None, part: IdRange | None = None) -> str:
    """person_values(id, bvalue): each live person's current value of the
    breakdown's person property, computed once per person, not per event
    (the persons of `part` only, when given)."""
    ids = in_part(part, "p.id")
    return q.part(
        "person_values",
        f"SELECT p.id, {text_form('p.properties', q.param(key))} COLLATE \"C\" AS bvalue\n"
        "FROM persons p WHERE p.project_id = $1 AND p.merged_into IS NULL" + and_condition(ids),
        materialized=materialized,
    )


def _branches(
    q: Statement, spec: TrendsSpec, series: list[int], population: str | None, bvalue: bool, kept: str | None = None,
    part: IdRange | None = None,
) -> str:
    """The UNION ALL of the given input series' matching events: (series,
    person_id, start, value) and, with `bvalue`, the event's breakdown value
    (NULL without a breakdown); with `kept` (the part of each series' kept
    values, by an event property) also its `rank`, as tagged_part gives it."""
    b = spec.breakdown
    from_, to = q.param(spec.from_), q.param(spec.to)
    key = None if b is None or b.event_property is None else q.param(b.event_property)
    branches = []
    for i in series:
        s = spec.series[i]
        value = (
            f"whodid_numeric(e.properties -> {q.param(s.property)}::text)" if s.math.of_property else "NULL::numeric"
        )
        bv = "" if not bvalue else (
            ", NULL::text AS bvalue" if key is None
            else f", {text_form('e.properties', key)} COLLATE \"C\" AS bvalue"
        )
        if kept is not None:
            assert key is not None
            # An uncorrelated subquery per branch, not a join: Citus pushes a
            # UNION ALL down only when no branch is joined with a result of
            # the coordinator's.
            bv += (f", coalesce(array_position((SELECT k.vals FROM {kept} k WHERE k.series = {i}),"
                   f" whodid_text(e.properties -> {key}::text) COLLATE \"C\"), 0)::bigint AS rank")
        branches.append(
            f"SELECT {i} AS series, e.person_id, {period_of('e.ts', spec.interval)} AS start,"
            f" {value} AS value{bv}\n"
            f"FROM events e\n"
            f"WHERE {event_conditions(q, s.event, s.where, from_, to, population, part)}"
        )
    return "\nUNION ALL\n".join(branches)


def _person_values(
    q: Statement, spec: TrendsSpec, materialized: bool | None = None, part: IdRange | None = None
) -> str | None:
    b = spec.breakdown
    if b is None or b.person_property is None:
        return None
    if q.has("person_values"):
        return "person_values"
    return person_values_part(q, b.person_property, materialized, part)


def matched_part(
    q: Statement, spec: TrendsSpec, series: list[int], population: str | None, *, materialized: bool | None = None,
    part: IdRange | None = None,
) -> str:
    """matched(series, person_id, start, value, bvalue) of the given input
    series (materialized: by default with a breakdown, read twice then). An
    inlined `matched` (materialized False, per shard on Citus) joins the
    person's value from `persons` itself: through the person_values part,
    Citus brought every matching event and person value to the coordinator.
    `part`: the events of the persons of that range of ids (build_parts)."""
    b = spec.breakdown
    if materialized is False and b is not None and b.person_property is not None:
        body = _branches(q, spec, series, population, bvalue=False, part=part)
        key = q.param(b.person_property)
        return q.part("matched", f"""SELECT u.*, whodid_text(v.properties -> {key}::text) COLLATE "C" AS bvalue
FROM (
{body}
) AS u
LEFT JOIN persons v ON v.project_id = $1 AND v.merged_into IS NULL AND v.id = u.person_id""", materialized=False)
    values = _person_values(q, spec, part=part)
    body = _branches(q, spec, series, population, bvalue=values is None, part=part)
    if values is not None:
        body = f"SELECT u.*, v.bvalue\nFROM (\n{body}\n) AS u\nLEFT JOIN {values} v ON v.id = u.person_id"
    return q.part("matched", body, materialized=spec.breakdown is not None if materialized is None else materialized)


def ranked_part(q: Statement, spec: TrendsSpec, matched: str, per_shard: bool = False) -> str:
    """ranked(series, bvalue, rank): each series' kept breakdown values.

    per_shard (Citus): the events per value counted first in a part of their
    own (partial counts on every shard, added up on the coordinator), then
    ranked: a window over the aggregate of the events themselves made Citus
    pull every matching event to the coordinator."""
    assert spec.breakdown is not None
    if per_shard:
        counted = q.part("value_events", f"""SELECT series, bvalue, count(*) AS n
FROM {matched}
WHERE bvalue IS NOT NULL
GROUP BY series, bvalue""", materialized=True)
        return q.part("ranked", f"""SELECT series, bvalue, rank FROM (
  SELECT series, bvalue, row_number() OVER (PARTITION BY series ORDER BY n DESC, bvalue) AS rank
  FROM {counted}
) AS r
WHERE rank <= {q.param(spec.breakdown.limit)}""")
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
    return f"series IN ({', '.join(str(i) for i in series)})"


def tagged_part(q: Statement, matched: str, ranked: str | None) -> str:
    """tagged(series, rank, start, person_id, value): the matching events with
    their output series: rank 1..limit of their value, 0 for the null series
    (no breakdown: every event is 0). Not materialized: each aggregation
    below reads `matched` through it (cheaper than writing every event once
    more: bench trend at 200k events, 5 interleaved rounds, 281-429 -> 276-356 ms).

    An event finds its rank in its series' array of kept values (at most
    `limit`, compared bytewise in the "C" collation), joined on the series
    number alone: no join on the text of every event (the planner, which
    cannot know how few values are kept, sorted all the events for a merge
    join on the value)."""
    if ranked is None:
        body = f"SELECT series, 0::bigint AS rank, start, person_id, value FROM {matched}"
    else:
        kept = q.part("kept", f"SELECT series, array_agg(bvalue ORDER BY rank) AS vals FROM {ranked} GROUP BY series")
        body = (
            "SELECT m.series, coalesce(array_position(k.vals, m.bvalue), 0)::bigint AS rank, m.start, m.person_id,"
            f" m.value\nFROM {matched} m\nLEFT JOIN {kept} k ON k.series = m.series"
        )
    return q.part("tagged", body, materialized=False)


def medians_part(q: Statement, tagged: str, median: list[int], per_shard: bool) -> str:
    """medians(series, rank, start, is_total, median_low, median_high): the
    MEDIAN series' middle values per period and over the range (is_total),
    from `tagged`'s rows of those series; percentile_disc ascending and
    descending (the lower and upper middle, whose mean is the median), or per
    shard from the shards' counts per value (medians_from_counts_part)."""
    if per_shard:
        return medians_from_counts_part(q, tagged, median)
    return q.part(
        "medians",
        f"""SELECT series, rank, start, GROUPING(start) = 1 AS is_total,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY value) AS median_low,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY value DESC) AS median_high
FROM {tagged}
WHERE {_among(median)}
GROUP BY GROUPING SETS ((series, rank, start), (series, rank))""",
    )


def medians_from_counts_part(q: Statement, tagged: str, median: list[int]) -> str:
    """medians(series, rank, start, is_total, median_low, median_high) for a
    Citus cluster, the same as percentile_disc's: `value_counts`, the number
    of events per distinct value of each (series, rank, period), is made on
    every shard (grouped there, added up on the coordinator: values, not
    events, travel); the coordinator then finds in each cell the first value
    whose running count from below reaches half the cell's count
    (percentile_disc(0.5) ascending: the lower middle) and the first from
    above (descending: the upper middle). NULL values count in neither, as
    in percentile_disc."""
    # (No WHERE on the series: a condition on `series` above the branches of
    # `tagged` made Citus pull each branch's events to the coordinator. The
    # other series' values are folded into NULL instead, one row per cell.)
    value_counts = q.part(
        "value_counts",
        f"""SELECT series, rank, start, CASE WHEN {_among(median)} THEN value END AS value, count(*) AS n
FROM {tagged}
GROUP BY 1, 2, 3, 4""",
        materialized=True,
    )
    return q.part(
        "medians",
        f"""SELECT series, rank, start, is_total,
       min(value) FILTER (WHERE 2 * below >= cell) AS median_low,
       max(value) FILTER (WHERE 2 * above >= cell) AS median_high
FROM (
    SELECT series, rank, start, is_total, value,
           sum(n) OVER (PARTITION BY series, rank, start, is_total ORDER BY value) AS below,
           sum(n) OVER (PARTITION BY series, rank, start, is_total ORDER BY value DESC) AS above,
           sum(n) OVER (PARTITION BY series, rank, start, is_total) AS cell
    FROM (
        SELECT series, rank, start, false AS is_total, value, sum(n) AS n
        FROM {value_counts} WHERE value IS NOT NULL GROUP BY series, rank, start, value
        UNION ALL
        SELECT series, rank, NULL, true, value, sum(n)
        FROM {value_counts} WHERE value IS NOT NULL GROUP BY series, rank, value
    ) AS cells
) AS running
GROUP BY series, rank, start, is_total""",
    )


def answer_parts(q: Statement, spec: TrendsSpec, tagged: str, per_shard: bool = False) -> str:
    """answer(series, rank, start, is_total, events, people, n_values, sum,
    min, max, median_low, median_high): one row per (series, rank, period)
    with events, and one per (series, rank) over the whole range (start
    NULL, is_total).

    Every aggregation is a hash aggregation over `tagged` (no sort of the
    events): `counts` per period, summed into the range's totals; the people
    as the distinct (series, rank, period, person) of the series that need
    them, counted per period and, distinct again without the period, per
    range. MEDIAN needs its values in order: `medians` sorts only the rows of
    the MEDIAN series (percentile_disc ascending and descending, whose mean
    is the exact median of an even count).

    per_shard (Citus): `person_periods` is not materialized (it would be a
    row per person and period pulled to the coordinator): the people are
    counted over the distinct (…, person) rows, which group by the person
    and so are made on every shard, their counts added up."""
    def of(*maths: TrendMath) -> list[int]:
        return [i for i, s in enumerate(spec.series) if s.math in maths]

    people, median = of(TrendMath.PEOPLE, TrendMath.EVENTS_PER_PERSON), of(TrendMath.MEDIAN)
    # (per shard, the aggregates are parts of their own: each is then made
    # on the shards and added up, and the joins below are the coordinator's)
    own = True if per_shard else None
    counts = q.part(
        "counts",
        f"""SELECT series, rank, start, count(*) AS events, count(value) AS n_values,
       sum(value) AS sum, min(value) AS min, max(value) AS max
FROM {tagged}
GROUP BY series, rank, start""",
        materialized=own,
    )
    point_people = range_people = medians = None
    if people:
        person_periods = q.part(
            "person_periods",
            f"SELECT DISTINCT series, rank, start, person_id FROM {tagged} WHERE {_among(people)}",
            materialized=not per_shard,
        )
        point_people = q.part(
            "point_people",
            f"SELECT series, rank, start, count(*) AS people FROM {person_periods} GROUP BY series, rank, start",
            materialized=own,
        )
        range_people = q.part(
            "range_people",
            f"""SELECT series, rank, count(*) AS people
FROM (SELECT DISTINCT series, rank, person_id FROM {person_periods}) AS d
GROUP BY series, rank""",
            materialized=own,
        )
    if median:
        medians = medians_part(q, tagged, median, per_shard)

    def joins(alias: str, total: bool) -> tuple[str, str]:
        cols, join = [], []
        on = f"x.series = {alias}.series AND x.rank = {alias}.rank" + ("" if total else f" AND x.start = {alias}.start")
        if point_people is not None:
            cols.append("x.people")
            join.append(f"LEFT JOIN {range_people if total else point_people} x ON {on}")
        else:
            cols.append("NULL::bigint AS people")
        if medians is not None:
            cols.append("md.median_low, md.median_high")
            join.append(f"LEFT JOIN {medians} md ON {on.replace('x.', 'md.')} AND {'' if total else 'NOT '}md.is_total")
        else:
            cols.append("NULL::numeric AS median_low, NULL::numeric AS median_high")
        return ", ".join(cols), "".join(f"\n{j}" for j in join)

    point_cols, point_joins = joins("c", total=False)
    range_cols, range_joins = joins("t", total=True)
    return q.part(
        "answer",
        f"""SELECT c.series, c.rank, c.start, false AS is_total, c.events, {point_cols},
       c.n_values, c.sum, c.min, c.max
FROM {counts} c{point_joins}
UNION ALL
SELECT t.series, t.rank, NULL, true, t.events, {range_cols},
       t.n_values, t.sum, t.min, t.max
FROM (
  SELECT series, rank, sum(events)::bigint AS events, sum(n_values)::bigint AS n_values,
         sum(sum) AS sum, min(min) AS min, max(max) AS max
  FROM {counts} GROUP BY series, rank
) AS t{range_joins}""",
    )


def cells_part(q: Statement, spec: TrendsSpec, population: str | None, per_shard: bool = False,
               part: IdRange | None = None) -> str:
    """cells(series, bvalue, start, events, people, range_people, n_values,
    sum, min, max): one row per (series, breakdown value, period) with
    events, when the breakdown value is the person's (or there is no
    breakdown).

    Each series' events are read in the order of events_name_person_ts
    (person, newest first) and marked in one window (no sort, no hash per
    person): an event whose newer neighbour is in another period (or has
    none) is its person's only one counted in that period (`people`); the
    person's newest event (no newer neighbour) is the only one counted over
    the range (`range_people`, summed over the periods). A person has one
    breakdown value, so these counts stay exact when the cells of several
    values are added up (the values folded into the null series): the only
    hashing is into the few cells, not per (person, period).

    per_shard (Citus): the marks' window is over `events e` itself, not over
    a subquery of it: Citus pushes a UNION ALL down to the shards only when
    its branches are alike, and pulled a windowed subquery's branch (every
    matching event) to the coordinator beside plain branches.

    part (build_parts): the events of the persons of that range of ids; a
    person is whole in one range, so the parts' cells of one (series,
    value, period) add up, people and range_people included."""
    values = _person_values(q, spec, part=part)
    b = spec.breakdown
    from_, to = q.param(spec.from_), q.param(spec.to)
    branches = []
    for i, s in enumerate(spec.series):
        value = (
            f"whodid_numeric(e.properties -> {q.param(s.property)}::text)" if s.math.of_property else "NULL::numeric"
        )
        where = event_conditions(q, s.event, s.where, from_, to, population, part)
        if s.math not in _OF_PEOPLE:
            # No people asked of this series: no marks, no window, the events
            # in any order (a SUM reads its property from the heap in time
            # order by events_name_ts, not in person order).
            branches.append(
                f"SELECT {i} AS series, e.person_id, {period_of('e.ts', spec.interval)} AS start, {value} AS value,"
                " NULL::boolean AS first_in_period, NULL::boolean AS first_of_person\n"
                f"FROM events e\nWHERE {where}"
            )
            continue
        if per_shard:
            start = period_of("e.ts", spec.interval)
            branches.append(
                f"""SELECT {i} AS series, e.person_id, {start} AS start, {value} AS value,
       lag({start}) OVER w IS DISTINCT FROM {start} AS first_in_period, lag(e.ts) OVER w IS NULL AS first_of_person
FROM events e
WHERE {where}
WINDOW w AS ({PERSON_NEWEST_FIRST.replace("person_id", "e.person_id").replace("ts DESC", "e.ts DESC")})"""
            )
            continue
        branches.append(
            f"""SELECT {i} AS series, person_id, start, value,
       lag(start) OVER w IS DISTINCT FROM start AS first_in_period, lag(start) OVER w IS NULL AS first_of_person
FROM (
  SELECT e.person_id, e.ts, {period_of('e.ts', spec.interval)} AS start, {value} AS value
  FROM events e
  WHERE {where}
) x
WINDOW w AS ({PERSON_NEWEST_FIRST})"""
        )
    marked = q.part("marked", "\nUNION ALL\n".join(branches))
    source, bvalue = (f"{marked} m", "NULL::text") if values is None else (
        f"{marked} m\nLEFT JOIN {values} v ON v.id = m.person_id", "v.bvalue"
    )
    assert b is None or b.person_property is not None
    return q.part(
        "cells",
        f"""SELECT series, {bvalue} AS bvalue, start, count(*) AS events,
       count(*) FILTER (WHERE first_in_period) AS people, count(*) FILTER (WHERE first_of_person) AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM {source}
GROUP BY 1, 2, 3""",
        materialized=True,
    )


def ranked_cells_part(q: Statement, spec: TrendsSpec, cells: str) -> str:
    """ranked(series, bvalue, rank), as `ranked_part`, from the cells' range rows."""
    assert spec.breakdown is not None
    return q.part(
        "ranked",
        f"""SELECT series, bvalue, rank FROM (
  SELECT series, bvalue, row_number() OVER (PARTITION BY series ORDER BY sum(events) DESC, bvalue) AS rank
  FROM {cells}
  WHERE bvalue IS NOT NULL
  GROUP BY series, bvalue
) AS r
WHERE rank <= {q.param(spec.breakdown.limit)}""",
    )


def folded_answer_part(q: Statement, spec: TrendsSpec, population: str | None, cells: str, ranked: str | None,
                       per_shard: bool = False) -> str:
    """answer (as `answer_parts`) from `cells`: the cells of the values
    outside the kept ones fold into rank 0 with the null value. Their sums
    are exact, and so are their people: a person has one value (theirs), so
    no person is in two cells of one (series, period). MEDIAN reads its
    series' events (`medians`, as in `answer_parts`; per shard from the
    shards' counts per value, medians_from_counts_part)."""
    median = [i for i, s in enumerate(spec.series) if s.math is TrendMath.MEDIAN]
    source, rank = (f"{cells} c", "0::bigint") if ranked is None else (
        f"{cells} c\nLEFT JOIN {ranked} r ON r.series = c.series AND r.bvalue = c.bvalue", "coalesce(r.rank, 0)"
    )
    folded = q.part(
        "folded",
        f"""SELECT c.series, {rank} AS rank, c.start, GROUPING(c.start) = 1 AS is_total, sum(c.events)::bigint AS events,
       (CASE WHEN GROUPING(c.start) = 1 THEN sum(c.range_people) ELSE sum(c.people) END)::bigint AS people,
       sum(c.n_values)::bigint AS n_values, sum(c.sum) AS sum, min(c.min) AS min, max(c.max) AS max
FROM {source}
GROUP BY GROUPING SETS ((c.series, {rank}, c.start), (c.series, {rank}))""",
    )
    if not median:
        return q.part(
            "answer",
            f"""SELECT series, rank, start, is_total, events, people,
       NULL::numeric AS median_low, NULL::numeric AS median_high, n_values, sum, min, max
FROM {folded}""",
        )
    matched = matched_part(q, spec, median, population, materialized=False)
    tagged = tagged_part(q, matched, ranked)
    medians = medians_part(q, tagged, median, per_shard)
    return q.part(
        "answer",
        f"""SELECT f.series, f.rank, f.start, f.is_total, f.events, f.people,
       md.median_low, md.median_high, f.n_values, f.sum, f.min, f.max
FROM {folded} f
LEFT JOIN {medians} md ON md.series = f.series AND md.rank = f.rank
  AND coalesce(md.start, '-infinity') = coalesce(f.start, '-infinity')""",
    )


def build(project_id: uuid.UUID, spec: TrendsSpec, per_shard: bool = False) -> tuple[str, list[Any]]:
    q = Statement(Params(project_id))
    population = population_part(q, spec.people)
    if spec.breakdown is None or spec.breakdown.person_property is not None:
        cells = cells_part(q, spec, population, per_shard)
        ranked = None if spec.breakdown is None else ranked_cells_part(q, spec, cells)
        answer = folded_answer_part(q, spec, population, cells, ranked, per_shard)
    else:  # a breakdown by the event's value: a person may be in several values
        # (per shard: `matched` inlined into each reader, not every matching
        # event pulled to the coordinator)
        every = list(range(len(spec.series)))
        matched = matched_part(q, spec, every, population, materialized=False if per_shard else None)
        ranked = ranked_part(q, spec, matched, per_shard)
        if per_shard:
            kept = q.part("kept", f"SELECT series, array_agg(bvalue ORDER BY rank) AS vals FROM {ranked} GROUP BY series",
                          materialized=True)
            tagged = q.part("tagged", _branches(q, spec, every, population, True, kept), materialized=False)
        else:
            tagged = tagged_part(q, matched, ranked)
        answer = answer_parts(q, spec, tagged, per_shard)
    if ranked is None:
        return q.select(f"SELECT a.*, NULL::text AS bvalue FROM {answer} a")
    # Grouped by the rank (an integer), the value joined after.
    return q.select(
        f"SELECT a.*, r.bvalue FROM {answer} a\nLEFT JOIN {ranked} r ON r.series = a.series AND r.rank = a.rank"
    )


def parts_add_up(spec: TrendsSpec) -> bool:
    """Whether the rows of build_parts add up to the report: not by an event
    property with a series that counts people (a person may have events of
    several values, so the people of the null series, the values folded
    into it, are distinct over values no part knows to fold)."""
    b = spec.breakdown
    return b is None or b.person_property is not None or all(s.math not in _OF_PEOPLE for s in spec.series)


def build_part(project_id: uuid.UUID, spec: TrendsSpec, part: IdRange | None) -> tuple[str, list[Any]]:
    """The statement of one part of build_parts: the report's cells, of the
    persons of the range of ids `part`, per **raw** breakdown value (not
    ranked: the kept values depend on every part's events), as rows
    (series, bvalue, start, events, people, range_people, n_values, sum,
    min, max, vals NULL); and per (series, raw value, period) of the MEDIAN
    series the numeric values sorted (vals, the other columns NULL). The
    assembly (assembly.py `fold_parts`) adds them up."""
    q = Statement(Params(project_id))
    population = population_part(q, spec.people)
    median = [i for i, s in enumerate(spec.series) if s.math is TrendMath.MEDIAN]
    if spec.breakdown is None or spec.breakdown.person_property is not None:
        cells = cells_part(q, spec, population, part=part)
        values = matched_part(q, spec, median, population, materialized=False, part=part) if median else None
    else:  # by an event property, no series counting people (parts_add_up)
        every = list(range(len(spec.series)))
        matched = matched_part(q, spec, every, population, materialized=bool(median), part=part)
        cells = q.part("cells", f"""SELECT series, bvalue, start, count(*) AS events,
       NULL::bigint AS people, NULL::bigint AS range_people,
       count(value) AS n_values, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM {matched}
GROUP BY 1, 2, 3""")
        values = matched if median else None
    select = f"""SELECT series, bvalue, start, events, people, range_people, n_values, sum, min, max,
       NULL::numeric[] AS vals
FROM {cells}"""
    if values is not None:
        select += f"""
UNION ALL
SELECT series, bvalue, start, NULL, NULL, NULL, NULL, NULL, NULL, NULL, array_agg(value ORDER BY value)
FROM {values}
WHERE value IS NOT NULL AND {_among(median)}
GROUP BY series, bvalue, start"""
    return q.select(select)


def build_parts(project_id: uuid.UUID, spec: TrendsSpec, parts: int) -> list[tuple[str, list[Any]]]:
    """`parts` statements, one per range of person ids (person_id_ranges),
    whose rows together the assembly folds into the report (build_part):
    run side by side on connections of one snapshot (ReportService,
    ReportKind.build_parts). When they would not add up (parts_add_up:
    people by an event property), build's one statement: the service then
    runs `build`."""
    if not parts_add_up(spec):
        return [build(project_id, spec)]
    return [build_part(project_id, spec, (i, parts)) for i in range(parts)]


def build_per_shard(project_id: uuid.UUID, spec: TrendsSpec) -> tuple[str, list[Any]]:
    """build for a Citus cluster distributed by person (docs/scaling.md): the
    same parts, shaped so that Citus runs each per-person part on every shard
    and adds up the partial counts and sums on the coordinator (see
    cells_part and answer_parts; a MEDIAN from the shards' counts per
    distinct value: medians_from_counts_part)."""
    return build(project_id, spec, per_shard=True)


def build_people_per_shard(project_id: uuid.UUID, page: TrendPeopleSpec) -> tuple[str, list[Any]]:
    """build_people for a Citus cluster: the point's distinct persons found on
    every shard (with a breakdown, each event's rank found from the kept
    values by an uncorrelated subquery), only their ids brought to the
    coordinator."""
    return build_people(project_id, page, per_shard=True)


def build_people(project_id: uuid.UUID, page: TrendPeopleSpec, per_shard: bool = False) -> tuple[str, list[Any]]:
    """(total, ids): the distinct persons of one point of one output series
    (every one: total; the page after `page.after`: ids, by person id)."""
    spec = page.report
    q = Statement(Params(project_id))
    population = population_part(q, spec.people)
    matched = matched_part(q, spec, [page.series], population, materialized=False if per_shard else None)
    cond = [f"m.start = {q.param(page.start)}::timestamptz"]
    source = f"{matched} m"
    if per_shard and spec.breakdown is not None:
        # The rank by an uncorrelated subquery, not a join (see _branches).
        ranked = ranked_part(q, spec, matched, per_shard)
        kept = q.part("kept", f"SELECT array_agg(bvalue ORDER BY rank) AS vals FROM {ranked}", materialized=True)
        rank = f"coalesce(array_position((SELECT k.vals FROM {kept} k), m.bvalue), 0)"
        cond.append(f"{rank} = {0 if page.rank is None else q.param(page.rank)}")
    elif spec.breakdown is not None:
        ranked = ranked_part(q, spec, matched)
        source += f"\nLEFT JOIN {ranked} r ON r.series = m.series AND r.bvalue = m.bvalue"
        cond.append("r.rank IS NULL" if page.rank is None else f"r.rank = {q.param(page.rank)}")
    # (per shard a part of its own: read twice, Citus would otherwise make
    # it from `matched` brought to the coordinator)
    people = q.part("people", f"SELECT DISTINCT m.person_id FROM {source}\nWHERE " + " AND ".join(cond),
                    materialized=True if per_shard else None)
    after = q.param(page.after)
    return q.select(
        f"""SELECT (SELECT count(*) FROM {people}) AS total,
       ARRAY(SELECT person_id FROM {people}
             WHERE {after}::uuid IS NULL OR person_id > {after}::uuid
             ORDER BY person_id LIMIT {q.param(page.first + 1)}) AS ids"""
    )

"""The plain-Python oracle of every report: DESIGN.md §5, written from the text alone.

This module is the independent reference the SQL reports are compared against, so it
imports nothing from `app/` and re-implements the little math it needs (median,
percentile, histogram, z-test, probability to beat). It favours being obviously
right over being fast: every person is replayed event by event.

Inputs are already resolved: an `Ev` belongs to the person its identity resolves to
now ("events count for the person they resolve to now"). Outputs are plain dicts and
lists shaped like the GraphQL types (camelCase keys), with floats for rates, Decimal
for money, datetimes for times and person ids as str.

The reports: funnel (with exclusions, holdConstant, trend), cohort (FIRST_TIME and
RECURRING, cumulative), revenue, trends, stickiness, lifecycle and paths, each under
the population filter (people_filter). Decisions where DESIGN.md is silent are marked
"Decision:" below; the property-filter
semantics are the project's decision and are implemented exactly as specified.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "BUCKET_SECONDS",
    "HISTOGRAM_BOUNDS",
    "Ev",
    "PropSet",
    "cohort",
    "current_properties",
    "funnel",
    "lifecycle",
    "make_event",
    "matches_filter",
    "numeric_value",
    "paths",
    "people_filter",
    "period_end",
    "period_start",
    "periods_overlapping",
    "revenue",
    "segment_text",
    "stickiness",
    "text_form",
    "trends",
]


# ======================================================================= data model


@dataclass(frozen=True)
class Ev:
    """An event as stored, already attributed to the person it resolves to now."""

    seq: int  # receive order (unique, increasing); breaks timestamp ties
    person_id: str
    name: str
    properties: dict[str, Any]  # JSON object
    timestamp: datetime  # tz-aware UTC
    revenue: Decimal | None = None  # the "Revenue" property; None when absent


@dataclass(frozen=True)
class PropSet:
    """One property change of a person (their property history)."""

    seq: int
    person_id: str
    key: str
    value: Any
    at: datetime


def make_event(
    seq: int,
    person_id: str,
    name: str,
    timestamp: datetime,
    properties: Mapping[str, Any] | None = None,
) -> Ev:
    """An Ev whose revenue is derived from its "Revenue" property, as ingestion does
    (a number or numeric string; anything else is refused at ingestion)."""
    props = dict(properties or {})
    rev: Decimal | None = None
    if "Revenue" in props:
        rev = numeric_value(props["Revenue"])
        if rev is None:
            raise ValueError(f"non-numeric Revenue {props['Revenue']!r}")
    return Ev(seq, person_id, name, props, timestamp, rev)


def current_properties(propsets: Iterable[PropSet]) -> dict[str, dict[str, Any]]:
    """Each person's current properties: per key the value with the latest `at`,
    ties broken by the later received (larger seq). A key set to null stays present
    with the value None."""
    best: dict[tuple[str, str], PropSet] = {}
    for ps in propsets:
        k = (ps.person_id, ps.key)
        cur = best.get(k)
        if cur is None or (ps.at, ps.seq) > (cur.at, cur.seq):
            best[k] = ps
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for (pid, key), ps in best.items():
        out[pid][key] = ps.value
    return dict(out)


# ======================================================================= periods

PERIODS = ("HOUR", "DAY", "WEEK", "MONTH")

# Cohort bucket lengths; MONTH is 30 days, as Kissmetrics does.
BUCKET_SECONDS = {"HOUR": 3600, "DAY": 86400, "WEEK": 604800, "MONTH": 30 * 86400}


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: reports work in tz-aware UTC")
    return t.astimezone(timezone.utc)


def period_start(t: datetime, period: str) -> datetime:
    """Start of the UTC period holding t: the hour, the calendar day, the ISO week
    (Monday 00:00) or the calendar month."""
    t = _utc(t)
    if period == "HOUR":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":
        return day - timedelta(days=day.weekday())  # weekday(): Monday is 0
    if period == "MONTH":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def period_end(t: datetime, period: str) -> datetime:
    """End (exclusive) of the UTC period holding t = start of the next period."""
    start = period_start(t, period)
    if period == "HOUR":
        return start + timedelta(hours=1)
    if period == "DAY":
        return start + timedelta(days=1)
    if period == "WEEK":
        return start + timedelta(days=7)
    # MONTH
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def periods_overlapping(from_: datetime, to: datetime, period: str) -> list[tuple[datetime, datetime]]:
    """[(start, end)] of every `period` period that overlaps [from, to), in time order,
    empty ones too. An empty range (from ≥ to) overlaps no period."""
    out = []
    if from_ < to:
        start = period_start(from_, period)
        while start < to:
            end = period_end(start, period)
            out.append((start, end))
            start = end
    return out


# ======================================================================= JSON values

_MISSING = object()

# Decision: a "numeric string" is plain ASCII decimal notation, optionally signed,
# with an optional exponent: "12", "-3.5", ".5", "5.", "1e3". No surrounding spaces,
# no "_" separators, no Infinity/NaN, no non-ASCII digits (Python's Decimal() would
# accept all of those). The SQL side must guard its numeric cast with the same test.
# docs/decisions.md: [+-]digits[.digits][e±NNN] (an exponent of at most 3 digits).
NUMERIC_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def text_form(value: Any) -> str:
    """A JSON string is its own text; anything else is its JSON text.

    Decision: json.dumps with its default separators (", " and ": ", as PostgreSQL
    prints jsonb) and ensure_ascii=False (PostgreSQL does not escape non-ASCII).
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def segment_text(value: Any) -> str | None:
    """The group of a value in segments and revenue sources (DESIGN §5: "A JSON
    string is its own text; other values their JSON text; missing is null"): its
    text form, so a JSON null is the text "null"; None only when missing. (Revenue
    sources skip null values before they get here: a null is no source.)"""
    if value is _MISSING:
        return None
    return text_form(value)


def numeric_value(value: Any) -> Decimal | None:
    """The number a JSON value stands for: a JSON number (not a boolean) or a numeric
    string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that reads back to the float, i.e. what was sent.
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and NUMERIC_STRING.fullmatch(value):
        return Decimal(value)
    return None


def matches_filter(properties: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """One PropertyFilter {key, op, value} (op defaults to EQ) against event properties."""
    key = flt["key"]
    op = flt.get("op") or "EQ"
    value = flt.get("value")
    present = key in properties
    prop = properties.get(key)

    if op == "EXISTS":
        return present  # even when the value is null
    if op == "NOT_EXISTS":
        return not present
    if op == "EQ":
        return present and text_form(prop) == text_form(value)
    if op == "NEQ":
        return not (present and text_form(prop) == text_form(value))
    if op == "CONTAINS":
        return present and text_form(value) in text_form(prop)
    if op == "STARTS_WITH":
        return present and text_form(prop).startswith(text_form(value))
    if op in ("GT", "GTE", "LT", "LTE"):
        if not present:
            return False
        a, b = numeric_value(prop), numeric_value(value)
        if a is None or b is None:
            return False
        return {"GT": a > b, "GTE": a >= b, "LT": a < b, "LTE": a <= b}[op]
    if op == "IN":
        if not present or not isinstance(value, list):
            return False
        return text_form(prop) in {text_form(v) for v in value}
    raise ValueError(f"unknown filter op {op!r}")


# ======================================================================= population filter


def people_filter(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    people: Mapping[str, Any] | None,
) -> set[str] | None:
    """The persons a PeopleFilter lets in (§5 "Population filter"), or None for everyone.

    people: None or {"properties": [filters] | None, "didEvent": str | None,
    "from": datetime | None, "to": datetime | None}. Every property filter must pass
    on the person's current properties (a person without any has {}); with didEvent
    the person needs an event of that exact name with from ≤ t < to, each bound only
    when given.

    Decision: an empty filter (no properties, or [], and no didEvent) is "everyone"
    (None). Decision: from/to without didEvent are ignored. Decision: didEvent looks
    at all of the person's events, not only those in the report's range (the filter
    has its own bounds), and needs no `where`. Decision: the universe is every person
    id in person_props or in events. Decision: every report filters the persons
    first, then computes on the remaining persons' events as if the others did not
    exist (so a filtered-out person never counts anywhere, history included).
    """
    if people is None:
        return None
    filters = list(people.get("properties") or ())
    did = people.get("didEvent")
    if not filters and did is None:
        return None
    evs = list(events)
    universe = set(person_props) | {e.person_id for e in evs}
    out = {pid for pid in universe if all(matches_filter(person_props.get(pid, {}), f) for f in filters)}
    if did is not None:
        lo, hi = people.get("from"), people.get("to")
        doers = {
            e.person_id
            for e in evs
            if e.name == did and (lo is None or lo <= e.timestamp) and (hi is None or e.timestamp < hi)
        }
        out &= doers
    return out


def _population(
    events: Iterable[Ev], person_props: Mapping[str, Mapping[str, Any]] | None, people: Mapping[str, Any] | None
) -> list[Ev]:
    """The events of the persons the filter lets in ("filter the persons first")."""
    evs = list(events)
    allowed = people_filter(evs, person_props or {}, people)
    if allowed is None:
        return evs
    return [e for e in evs if e.person_id in allowed]


# ======================================================================= small math
# Re-implemented here on purpose (the oracle must not share code with app/).

HISTOGRAM_BOUNDS = (60, 600, 3600, 86400, 604800, 2592000)


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    s = sorted(values)
    h = (len(s) - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (h - lo)


def _duration_stats(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    buckets: list[dict[str, Any]] = [{"upToSeconds": float(b), "people": 0} for b in HISTOGRAM_BOUNDS]
    buckets.append({"upToSeconds": None, "people": 0})
    for v in values:
        # (previous bound, bound]; the first bucket is [0, 60].
        i = next((i for i, b in enumerate(HISTOGRAM_BOUNDS) if v <= b), len(HISTOGRAM_BOUNDS))
        buckets[i]["people"] += 1
    return {
        "count": len(values),
        "medianSeconds": float(_median(values)),
        "meanSeconds": math.fsum(values) / len(values),
        "p90Seconds": float(_percentile(values, 90)),
        "histogram": buckets,
    }


def _z_test(x: int, n: int, x0: int, n0: int) -> tuple[float, float]:
    if n == 0 or n0 == 0:
        return 0.0, 1.0
    pooled = (x + x0) / (n + n0)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z = (x / n - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
    return z, math.erfc(abs(z) / math.sqrt(2))


def _prob_beats(x: int, n: int, x0: int, n0: int) -> float:
    """P(Beta(1+x, 1+n−x) > Beta(1+x0, 1+n0−x0)), exactly: Evan Miller's sum
    Σ_{i<α_B} B(α_A+i, β_A+β_B) / ((β_B+i) B(1+i, β_B) B(α_A, β_A)), one lgamma
    evaluation per term, summed over the side with the smaller α (P(A>B) = 1 − P(B>A)).
    Slow for huge counts, which the oracle's test data does not have."""

    def lbeta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
        logs = [
            lbeta(a_a + i, b_a + b_b) - math.log(b_b + i) - lbeta(1 + i, b_b) - lbeta(a_a, b_a)
            for i in range(a_b)
        ]
        top = max(logs)
        return math.exp(top) * math.fsum(math.exp(v - top) for v in logs)

    a_b, b_b, a_a, b_a = 1 + x, 1 + n - x, 1 + x0, 1 + n0 - x0
    p = b_beats_a(a_a, b_a, a_b, b_b) if a_b <= a_a else 1 - b_beats_a(a_b, b_b, a_a, b_a)
    return min(1.0, max(0.0, p))


def _sum_exact(values: Iterable[Decimal]) -> Decimal:
    """Σ without the 28-digit rounding of the default context ("sums are exact")."""
    with localcontext() as ctx:
        ctx.prec = 100_000
        ctx.traps[Inexact] = True
        total = Decimal(0)
        for v in values:
            total += v
        return total


def _cents_half_up(q: Fraction) -> Decimal:
    """An exact rational rounded to cents, halves away from zero (PostgreSQL round)."""
    negative = q < 0
    cents = math.floor(abs(q) * 100 + Fraction(1, 2))
    digits = tuple(int(d) for d in str(cents)) or (0,)
    return Decimal((1 if negative and cents else 0, digits, -2))


def _average_per_paying(total: Decimal, paying: int) -> Decimal:
    # Decision: 0 is returned as Decimal("0.00"), like every other rounded average.
    if paying == 0:
        return Decimal("0.00")
    return _cents_half_up(Fraction(total) / paying)


# ======================================================================= funnel


@dataclass(frozen=True)
class _Chain:
    person_id: str
    level: int  # steps reached (≥ 1: everyone here had a start)
    events: tuple[Ev, ...]  # the chain's events, one per reached step

    def time(self, k: int) -> datetime:
        return self.events[k].timestamp


def _step_matches(ev: Ev, step: Mapping[str, Any]) -> bool:
    return ev.name == step["event"] and all(
        matches_filter(ev.properties, f) for f in (step.get("where") or ())
    )


def _follow(
    start: Ev,
    matching: list[list[Ev]],
    to: datetime,
    window: timedelta | None,
) -> list[Ev]:
    """The chain from one start: step k is the earliest matching event (by time, then
    seq) not already in this chain with t_k ≥ t_{k−1}, t_k < to, t_k ≤ t_0 + window."""
    chain = [start]
    used = {start.seq}
    deadline = start.timestamp + window if window is not None else None
    for k in range(1, len(matching)):
        prev_t = chain[-1].timestamp
        nxt = next(
            (
                e
                for e in matching[k]  # sorted by (timestamp, seq): first hit is earliest
                if e.seq not in used
                and prev_t <= e.timestamp < to
                and (deadline is None or e.timestamp <= deadline)
            ),
            None,
        )
        if nxt is None:
            break
        chain.append(nxt)
        used.add(nxt.seq)
    return chain


def _person_chains(
    events: Iterable[Ev],
    steps: Sequence[Mapping[str, Any]],
    from_: datetime,
    to: datetime,
    window_seconds: int | None,
    hold_constant: str | None = None,
) -> list[_Chain]:
    """Every person who entered the funnel (a step-0 event in range) with their chain.

    With hold_constant, a start needs that event property present (Decision: a JSON
    null value is present, its text is "null"), and steps k ≥ 1 only match events
    whose value has the start's text (segment_text; missing never matches)."""
    window = timedelta(seconds=window_seconds) if window_seconds is not None else None
    by_person: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        by_person[e.person_id].append(e)
    chains = []
    for pid, evs in by_person.items():
        evs.sort(key=lambda e: (e.timestamp, e.seq))
        matching = [[e for e in evs if _step_matches(e, s)] for s in steps]
        best: list[Ev] | None = None
        # Starts in (time, seq) order; only a strictly higher level replaces the best,
        # so the best is the earliest start with the highest level.
        for start in matching[0]:
            if not from_ <= start.timestamp < to:
                continue
            if hold_constant is None:
                chain = _follow(start, matching, to, window)
            else:
                if hold_constant not in start.properties:
                    continue
                held = segment_text(start.properties[hold_constant])
                same = [matching[0]] + [
                    [e for e in m if segment_text(e.properties.get(hold_constant, _MISSING)) == held]
                    for m in matching[1:]
                ]
                chain = _follow(start, same, to, window)
            if best is None or len(chain) > len(best):
                best = chain
        if best is not None:
            chains.append(_Chain(pid, len(best), tuple(best)))
    return chains


def _steps_report(chains: Sequence[_Chain], steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    people = [sum(1 for c in chains if c.level > k) for k in range(len(steps))]
    out = []
    for k, step in enumerate(steps):
        reached = sorted((c for c in chains if c.level > k), key=lambda c: (c.time(k), c.person_id))
        if k == 0:
            dropped_off = 0
            conv_prev = conv_start = 1.0 if people[0] else 0.0
            timing = None
            dropped: list[_Chain] = []
        else:
            dropped_off = people[k - 1] - people[k]
            conv_prev = people[k] / people[k - 1] if people[k - 1] else 0.0
            conv_start = people[k] / people[0] if people[0] else 0.0
            timing = _duration_stats([(c.time(k) - c.time(k - 1)).total_seconds() for c in reached])
            dropped = sorted(
                (c for c in chains if c.level == k), key=lambda c: (c.time(k - 1), c.person_id)
            )
        out.append(
            {
                "index": k,
                "event": step["event"],
                "people": people[k],
                "droppedOff": dropped_off,
                "conversionFromPrevious": conv_prev,
                "conversionFromStart": conv_start,
                "timeFromPrevious": timing,
                "reached": [c.person_id for c in reached],
                "dropped": [c.person_id for c in dropped],
            }
        )
    return out


def _value_order(value: str | None) -> tuple[bool, str]:
    """Value ascending, null last (ORDER BY value ASC NULLS LAST; code-point order)."""
    return (value is None, value or "")


def _segments(
    chains: Sequence[_Chain],
    steps: Sequence[Mapping[str, Any]],
    person_props: Mapping[str, Mapping[str, Any]],
    segment_by: Mapping[str, Any],
) -> list[dict[str, Any]]:
    person_prop = segment_by.get("personProperty")
    step_prop = segment_by.get("firstStepProperty")
    # Decision: exactly one of the two must be given (the API answers BAD_USER_INPUT).
    if (person_prop is None) == (step_prop is None):
        raise ValueError("segmentBy needs exactly one of personProperty, firstStepProperty")
    limit = segment_by.get("limit")
    # Decision: limit ≤ 0 keeps no value of its own: everyone is in the null segment.
    limit = 10 if limit is None else max(0, int(limit))

    def raw_value(c: _Chain) -> str | None:
        if person_prop is not None:
            return segment_text(person_props.get(c.person_id, {}).get(person_prop, _MISSING))
        return segment_text(c.events[0].properties.get(step_prop, _MISSING))

    values = {c.person_id: raw_value(c) for c in chains}
    # Everyone here reached step 0, so counting chains counts people at step 0.
    # Decision: the limit applies to non-null values only; null is where the rest go
    # and never takes one of the `limit` places.
    counts: dict[str, int] = defaultdict(int)
    for v in values.values():
        if v is not None:
            counts[v] += 1
    kept = set(sorted(counts, key=lambda v: (-counts[v], v))[:limit])

    groups: dict[str | None, list[_Chain]] = defaultdict(list)
    for c in chains:
        v = values[c.person_id]
        groups[v if v in kept else None].append(c)

    segs = []
    for value, members in groups.items():
        seg_steps = _steps_report(members, steps)
        n0, n_last = seg_steps[0]["people"], seg_steps[-1]["people"]
        if n0 == 0:
            continue  # nobody at step 0: left out (cannot happen, kept for the rule)
        segs.append({"value": value, "steps": seg_steps, "conversionRate": n_last / n0, "comparison": None})
    # Decision: "people at step 0 descending, then value ascending, null last" is read
    # as ORDER BY people DESC, value ASC NULLS LAST: null is last among equal counts,
    # not last overall. The default baseline (the first segment) may then be null.
    segs.sort(key=lambda s: (-s["steps"][0]["people"], _value_order(s["value"])))
    if not segs:
        return segs

    wanted = segment_by.get("baseline")
    if wanted is None:
        base = segs[0]
    else:
        base = next((s for s in segs if s["value"] == wanted), None)
        # Decision: a baseline that names no segment (unknown, or folded into null)
        # gives no comparisons at all (every comparison null) rather than silently
        # comparing against something the caller did not ask for.
        if base is None:
            return segs

    x0, n0 = base["steps"][-1]["people"], base["steps"][0]["people"]
    p0 = x0 / n0
    for s in segs:
        if s is base:
            continue
        x, n = s["steps"][-1]["people"], s["steps"][0]["people"]
        z, p_value = _z_test(x, n, x0, n0)
        s["comparison"] = {
            "baseline": base["value"],
            "lift": (x / n - p0) / p0 if p0 else 0.0,
            "zScore": z,
            "pValue": p_value,
            "probabilityToBeatBaseline": _prob_beats(x, n, x0, n0),
            "significant": p_value < 0.05,
        }
    return segs


def funnel(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    from_: datetime,
    to: datetime,
    window_seconds: int | None = None,
    segment_by: Mapping[str, Any] | None = None,
    exclusions: Sequence[Mapping[str, Any]] | None = None,
    hold_constant: str | None = None,
    people: Mapping[str, Any] | None = None,
    trend_interval: str | None = None,
) -> dict[str, Any]:
    """The funnel report of §5.

    steps: [{"event": name, "where": [filters] | None}, ...]; person_props: each
    person's current properties (see current_properties); segment_by: None or
    {"personProperty" | "firstStepProperty": key, "limit": int, "baseline": str|None}.
    Returns {"steps": [...], "segments": [...]}; each step carries `reached` and
    `dropped`, the ordered person ids of peopleList(REACHED) and peopleList(DROPPED).
    The overall steps ignore segmentation.

    exclusions: [{"event", "where", "afterStep", "beforeStep"}]; hold_constant: an
    event property key; people: the population filter (persons filtered first);
    trend_interval: when given, the result also has "trend": [{"start", "entered",
    "converted", "rate"}], one point per period overlapping [from, to).
    """
    evs = _population(events, person_props, people)
    if not steps:
        out: dict[str, Any] = {"steps": [], "segments": []}
        if trend_interval is not None:
            # Decision: no steps, nobody entered: the trend is all zeros.
            out["trend"] = [
                {"start": a, "entered": 0, "converted": 0, "rate": 0.0}
                for a, _ in periods_overlapping(from_, to, trend_interval)
            ]
        return out
    chains = _person_chains(evs, steps, from_, to, window_seconds, hold_constant)
    if exclusions:
        chains = [c for c in chains if not _excluded(c, evs, exclusions, to, window_seconds)]
    out = {
        "steps": _steps_report(chains, steps),
        "segments": _segments(chains, steps, person_props, segment_by) if segment_by else [],
    }
    if trend_interval is not None:
        trend = []
        for a, b in periods_overlapping(from_, to, trend_interval):
            entered = [c for c in chains if a <= c.time(0) < b]
            converted = sum(1 for c in entered if c.level == len(steps))
            trend.append(
                {
                    "start": a,
                    "entered": len(entered),
                    "converted": converted,
                    "rate": converted / len(entered) if entered else 0.0,
                }
            )
        out["trend"] = trend
    return out


def _excluded(
    chain: _Chain,
    events: Sequence[Ev],
    exclusions: Sequence[Mapping[str, Any]],
    to: datetime,
    window_seconds: int | None,
) -> bool:
    """Whether an exclusion takes the person out of the whole report: the chain (found
    ignoring exclusions) reached afterStep, and an event that matches the exclusion and
    is not part of the chain has t_after < t < t_end and t < to; t_end = the chain's
    time at beforeStep when reached, else t_0 + window, else `to`.

    Decision: hold_constant does not restrict exclusion events (the text ties it to
    steps only). Decision: both bounds are strict as written, so an exclusion event
    at the very second of afterStep or beforeStep does not exclude. Decision: several
    exclusions are independent; any one of them removes the person. (`from` needs no
    check: t > t_after ≥ t_0 ≥ from.)"""
    in_chain = {e.seq for e in chain.events}
    mine = [e for e in events if e.person_id == chain.person_id and e.seq not in in_chain]
    for x in exclusions:
        after, before = int(x["afterStep"]), int(x["beforeStep"])
        if chain.level <= after:
            continue  # afterStep not reached
        t_after = chain.time(after)
        if chain.level > before:
            t_end = chain.time(before)
        elif window_seconds is not None:
            t_end = chain.time(0) + timedelta(seconds=window_seconds)
        else:
            t_end = to
        step = {"event": x["event"], "where": x.get("where")}
        if any(_step_matches(e, step) and t_after < e.timestamp < t_end and e.timestamp < to for e in mine):
            return True
    return False


# ======================================================================= cohort


def cohort(
    events: Iterable[Ev],
    cohort_event: str,
    return_event: str,
    from_: datetime,
    to: datetime,
    cohort_period: str,
    bucket: str,
    buckets: int,
    computed_at: datetime,
    mode: str = "FIRST_TIME",
    cumulative: bool = False,
    people: Mapping[str, Any] | None = None,
    person_props: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Cohort rows of §5: [{"start", "size", "cells": [{"index", "people", "rate",
    "complete"}]}], ascending by start, empty rows left out.

    Note: membership is by t₀ in [from, to) (DESIGN.md), so a row whose period
    begins before `from` (from not on a period boundary) still appears, with its
    period's start.

    mode RECURRING: a person joins the row of every cohortPeriod period in which
    they did cohortEvent within [from, to), with t₀ = their first cohortEvent inside
    both that period and the range. cumulative: cell n counts returns at t ≥ t₀ + n·B.
    people/person_props: the population filter (persons filtered first; person_props
    None means nobody has properties).
    """
    evs = _population(events, person_props, people)
    returns: dict[str, list[datetime]] = defaultdict(list)
    for e in evs:
        if e.name == return_event:
            returns[e.person_id].append(e.timestamp)

    # rows: period start -> [(person id, t₀)]
    rows: dict[datetime, list[tuple[str, datetime]]] = defaultdict(list)
    if mode == "FIRST_TIME":
        first: dict[str, datetime] = {}
        for e in evs:
            if e.name == cohort_event and (e.person_id not in first or e.timestamp < first[e.person_id]):
                first[e.person_id] = e.timestamp  # the first time ever, not just in range
        for pid, t0 in first.items():
            if from_ <= t0 < to:
                rows[period_start(t0, cohort_period)].append((pid, t0))
    elif mode == "RECURRING":
        firsts: dict[tuple[str, datetime], datetime] = {}
        for e in evs:
            if e.name == cohort_event and from_ <= e.timestamp < to:
                k = (e.person_id, period_start(e.timestamp, cohort_period))
                if k not in firsts or e.timestamp < firsts[k]:
                    firsts[k] = e.timestamp
        for (pid, start), t0 in firsts.items():
            rows[start].append((pid, t0))
    else:
        raise ValueError(f"unknown cohort mode {mode!r}")

    b = timedelta(seconds=BUCKET_SECONDS[bucket])
    out = []
    for start in sorted(rows):
        members = rows[start]
        end = period_end(start, cohort_period)
        cells = []
        for n in range(max(0, buckets)):
            # [t₀ + nB, t₀ + (n+1)B): when returnEvent is cohortEvent, t₀ itself
            # is an occurrence and so falls in cell 0.
            # Decision (cumulative): no upper bound at all, "bucket n or later" includes
            # returns after the last shown bucket.
            people = sum(
                1
                for pid, t0 in members
                if any(
                    t0 + n * b <= t and (cumulative or t < t0 + (n + 1) * b) for t in returns[pid]
                )
            )
            cells.append(
                {
                    "index": n,
                    "people": people,
                    "rate": people / len(members),
                    "complete": end + (n + 1) * b <= computed_at,
                }
            )
        out.append({"start": start, "size": len(members), "cells": cells})
    return out


# ======================================================================= revenue


def _money_summary(evs: Sequence[Ev]) -> dict[str, Any]:
    total = _sum_exact(e.revenue for e in evs if e.revenue is not None)
    paying = {e.person_id for e in evs if e.revenue is not None and e.revenue > 0}
    return {
        "total": total,
        "gross": _sum_exact(e.revenue for e in evs if e.revenue is not None and e.revenue > 0),
        "refunds": _sum_exact(e.revenue for e in evs if e.revenue is not None and e.revenue < 0),
        "payingPeople": len(paying),
        "averageRevenuePerPayingPerson": _average_per_paying(total, len(paying)),
    }


def _sources(
    events: Sequence[Ev], propsets: Iterable[PropSet], source_property: str
) -> dict[str, str | None]:
    """Each person's first-touch source: the first value of source_property by
    timestamp among all their events' properties and property sets, at any time.

    Decisions: on equal timestamps a property set comes before an event (a tracker
    sets the campaign as a person property along with its "Ad Campaign Hit"), then
    the smaller seq. A JSON null value is no value (skipped), like a missing key.
    """
    firsts: dict[str, tuple[datetime, int, int, Any]] = {}

    def offer(pid: str, key: tuple[datetime, int, int, Any]) -> None:
        if pid not in firsts or key[:3] < firsts[pid][:3]:
            firsts[pid] = key

    for ps in propsets:
        if ps.key == source_property and ps.value is not None:
            offer(ps.person_id, (ps.at, 0, ps.seq, ps.value))
    for e in events:
        v = e.properties.get(source_property)
        if v is not None:
            offer(e.person_id, (e.timestamp, 1, e.seq, v))
    return {pid: segment_text(key[3]) for pid, key in firsts.items()}


def revenue(
    events: Iterable[Ev],
    propsets: Iterable[PropSet],
    from_: datetime,
    to: datetime,
    interval: str = "MONTH",
    source_property: str = "Campaign Source",
    people: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The revenue report of §5: total, gross, refunds, payingPeople,
    averageRevenuePerPayingPerson, series, bySource and topPeople (a list of
    (person_id, revenue) pairs).

    Decision: a "Revenue event" is an event with a revenue value, 0 included; it
    puts its person in bySource/topPeople, while payingPeople needs a positive one.
    Sums are exact Decimals and keep their natural exponent (an empty sum is
    Decimal(0)); averages are rounded to cents ("0.00" when nobody paid).
    """
    propsets = list(propsets)
    all_events = list(events)
    allowed = people_filter(all_events, current_properties(propsets), people)
    if allowed is not None:
        # people: the population from the current properties of propsets and the events.
        all_events = [e for e in all_events if e.person_id in allowed]
        propsets = [ps for ps in propsets if ps.person_id in allowed]
    in_range = [e for e in all_events if e.revenue is not None and from_ <= e.timestamp < to]
    report = _money_summary(in_range)

    # One point per interval period overlapping [from, to), empty ones too. An empty
    # range (from ≥ to) overlaps no period.
    series = []
    if from_ < to:
        start = period_start(from_, interval)
        while start < to:
            end = period_end(start, interval)
            point = {"start": start}
            point.update(_money_summary([e for e in in_range if start <= e.timestamp < end]))
            series.append(point)
            start = end
    report["series"] = series

    sources = _sources(all_events, propsets, source_property)
    slices: dict[str | None, list[Ev]] = defaultdict(list)
    for e in in_range:
        slices[sources.get(e.person_id)].append(e)
    by_source = []
    for value, evs in slices.items():
        s = _money_summary(evs)
        by_source.append(
            {
                "value": value,
                "total": s["total"],
                "payingPeople": s["payingPeople"],
                "averageRevenuePerPayingPerson": s["averageRevenuePerPayingPerson"],
            }
        )
    # ORDER BY total DESC, value ASC NULLS LAST (null is last among equal totals).
    # Two stable sorts: negating a Decimal would round it to the context's 28 digits.
    by_source.sort(key=lambda s: _value_order(s["value"]))
    by_source.sort(key=lambda s: s["total"], reverse=True)
    report["bySource"] = by_source

    per_person: dict[str, list[Decimal]] = defaultdict(list)
    for e in in_range:
        assert e.revenue is not None
        per_person[e.person_id].append(e.revenue)
    top = [(pid, _sum_exact(vals)) for pid, vals in per_person.items()]
    top.sort(key=lambda pr: pr[0])
    top.sort(key=lambda pr: pr[1], reverse=True)  # stable: id ascending among ties
    report["topPeople"] = top
    return report


# ======================================================================= new reports
# Decision (project-wide): every person-id list of the new reports (trend points with
# PEOPLE math, stickiness buckets, lifecycle points, path nodes: the peopleList
# drill-downs) is sorted by person id, str ascending.


def _matching(
    events: Iterable[Ev], event: str, where: Sequence[Mapping[str, Any]] | None
) -> list[Ev]:
    step = {"event": event, "where": where}
    return [e for e in events if _step_matches(e, step)]


def _exact_float(q: Decimal | Fraction) -> float:
    return float(Fraction(q))


_MATHS = ("TOTAL", "PEOPLE", "EVENTS_PER_PERSON", "SUM", "AVERAGE", "MIN", "MAX", "MEDIAN")


def _math_value(evs: Sequence[Ev], math_: str, prop: str | None) -> float | None:
    """One trends math over a set of events (already matched and in range)."""
    if math_ == "TOTAL":
        return float(len(evs))
    if math_ == "PEOPLE":
        return float(len({e.person_id for e in evs}))
    if math_ == "EVENTS_PER_PERSON":
        n = len({e.person_id for e in evs})
        return len(evs) / n if n else 0.0
    # Decision: with no `property` (None) no event has a numeric value: SUM 0, the rest
    # null. A property whose value is a boolean, null, object, array or a non-numeric
    # string is not numeric (numeric_value).
    nums: list[Decimal] = []
    if prop is not None:
        for e in evs:
            if prop in e.properties:
                v = numeric_value(e.properties[prop])
                if v is not None:
                    nums.append(v)
    if math_ == "SUM":
        return _exact_float(_sum_exact(nums)) if nums else 0.0
    if not nums:
        return None
    if math_ == "AVERAGE":
        return _exact_float(Fraction(_sum_exact(nums)) / len(nums))
    if math_ == "MIN":
        return _exact_float(min(nums))
    if math_ == "MAX":
        return _exact_float(max(nums))
    if math_ == "MEDIAN":
        s = sorted(nums)
        n = len(s)
        if n % 2:
            return _exact_float(s[n // 2])
        return _exact_float((Fraction(s[n // 2 - 1]) + Fraction(s[n // 2])) / 2)
    raise ValueError(f"unknown math {math_!r}")


def trends(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    series: Sequence[Mapping[str, Any]],
    from_: datetime,
    to: datetime,
    interval: str = "DAY",
    breakdown: Mapping[str, Any] | None = None,
    people: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The trends report of §5.

    series: [{"event", "where", "math", "property"}]; breakdown: None or
    {"eventProperty" | "personProperty": key, "limit": int (default 10)}.
    Returns [{"index", "event", "math", "breakdownValue", "total", "points": [{"start",
    "value", "people"}]}] in input series order, then rank (null series last, only
    when it has events). "people" of a point: the sorted person ids counted, for PEOPLE
    math only (else []).

    Decision: math missing/None is TOTAL. Values are floats; exact sums and averages
    are computed as Decimal/Fraction and converted once (MEDIAN of an even count: the
    exact mean of the two middle values). Decision: with a breakdown, each output
    series' points and total count only the events of its value (PEOPLE: the distinct
    persons among them; with eventProperty one person can count in several series).
    Decision: breakdown values are ranked per input series, over that series' own
    matching events in range. Decision: the limit counts non-null values only (null
    never takes a place); limit ≤ 0 keeps no value: everything joins null. Decision:
    a JSON null value is the text "null" (segment_text), not missing. Decision: with a
    breakdown, an input series without any matching event in range has no output
    series at all (no value has events, and the null series only appears with events);
    without a breakdown every input series has its output series, zeros included.
    """
    evs = _population(events, person_props, people)
    periods = periods_overlapping(from_, to, interval)

    event_key = person_key = None
    limit = 10
    if breakdown is not None:
        event_key, person_key = breakdown.get("eventProperty"), breakdown.get("personProperty")
        if (event_key is None) == (person_key is None):
            raise ValueError("breakdown needs exactly one of eventProperty, personProperty")
        lim = breakdown.get("limit")
        limit = 10 if lim is None else max(0, int(lim))

    def value_of(e: Ev) -> str | None:
        if event_key is not None:
            return segment_text(e.properties.get(event_key, _MISSING))
        return segment_text(person_props.get(e.person_id, {}).get(person_key, _MISSING))

    out: list[dict[str, Any]] = []
    for i, s in enumerate(series):
        math_ = s.get("math") or "TOTAL"
        if math_ not in _MATHS:
            raise ValueError(f"unknown math {math_!r}")
        prop = s.get("property")
        matched = [e for e in _matching(evs, s["event"], s.get("where")) if from_ <= e.timestamp < to]

        groups: list[tuple[str | None, list[Ev]]]
        if breakdown is None:
            groups = [(None, matched)]
        else:
            counts: dict[str, int] = defaultdict(int)
            for e in matched:
                v = value_of(e)
                if v is not None:
                    counts[v] += 1
            ranked = sorted(counts, key=lambda v: (-counts[v], v))[:limit]
            kept = set(ranked)
            by_value: dict[str | None, list[Ev]] = defaultdict(list)
            for e in matched:
                v = value_of(e)
                by_value[v if v in kept else None].append(e)
            groups = [(v, by_value[v]) for v in ranked]
            if by_value.get(None):
                groups.append((None, by_value[None]))

        for value, group in groups:
            points = []
            for a, b in periods:
                inside = [e for e in group if a <= e.timestamp < b]
                points.append(
                    {
                        "start": a,
                        "value": _math_value(inside, math_, prop),
                        "people": sorted({e.person_id for e in inside}) if math_ == "PEOPLE" else [],
                    }
                )
            out.append(
                {
                    "index": i,
                    "event": s["event"],
                    "math": math_,
                    "breakdownValue": value,
                    "total": _math_value(group, math_, prop),
                    "points": points,
                }
            )
    return out


def stickiness(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    event: str,
    where: Sequence[Mapping[str, Any]] | None,
    from_: datetime,
    to: datetime,
    interval: str = "DAY",
    people: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stickiness report of §5: {"intervals": K, "buckets": [{"periods": n,
    "people": count, "peopleIds": sorted ids}] for n = 1..K (zeros too)}.

    Decision: an empty range has K = 0 and no buckets."""
    evs = _population(events, person_props, people)
    periods = periods_overlapping(from_, to, interval)
    k = len(periods)
    held: dict[str, set[datetime]] = defaultdict(set)
    for e in _matching(evs, event, where):
        if from_ <= e.timestamp < to:
            held[e.person_id].add(period_start(e.timestamp, interval))
    buckets = []
    for n in range(1, k + 1):
        ids = sorted(pid for pid, ps in held.items() if len(ps) == n)
        buckets.append({"periods": n, "people": len(ids), "peopleIds": ids})
    return {"intervals": k, "buckets": buckets}


def lifecycle(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    event: str,
    where: Sequence[Mapping[str, Any]] | None,
    from_: datetime,
    to: datetime,
    interval: str = "DAY",
    people: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The lifecycle report of §5: one point per period P overlapping [from, to):
    {"start", "new", "returning", "resurrecting", "dormant", "people": {"NEW": ids,
    "RETURNING": ids, "RESURRECTING": ids, "DORMANT": ids}} (ids sorted).

    History is every matching event before `to`, also before `from`. Active in P: a
    matching event in P before `to`. Decision: that includes, for the first period
    when `from` is not on a period boundary, its events between the period's start and
    `from` (the text says "in P, before to", not "in range"). new: P holds the
    person's first matching event ever; returning: otherwise, when active in P−1;
    resurrecting: otherwise. dormant: active in P−1 and not in P, a positive count.
    """
    evs = _population(events, person_props, people)
    history: dict[str, list[datetime]] = defaultdict(list)
    for e in _matching(evs, event, where):
        if e.timestamp < to:
            history[e.person_id].append(e.timestamp)
    first = {pid: min(ts) for pid, ts in history.items()}

    def active(pid: str, a: datetime, b: datetime) -> bool:
        return any(a <= t < b and t < to for t in history[pid])

    out = []
    for a, b in periods_overlapping(from_, to, interval):
        prev_a = period_start(a - timedelta(microseconds=1), interval)
        groups: dict[str, list[str]] = {"NEW": [], "RETURNING": [], "RESURRECTING": [], "DORMANT": []}
        for pid in sorted(history):
            now, before = active(pid, a, b), active(pid, prev_a, a)
            if now:
                if a <= first[pid] < b:
                    groups["NEW"].append(pid)
                elif before:
                    groups["RETURNING"].append(pid)
                else:
                    groups["RESURRECTING"].append(pid)
            elif before:
                groups["DORMANT"].append(pid)
        out.append(
            {
                "start": a,
                "new": len(groups["NEW"]),
                "returning": len(groups["RETURNING"]),
                "resurrecting": len(groups["RESURRECTING"]),
                "dormant": len(groups["DORMANT"]),
                "people": groups,
            }
        )
    return out


def _null_last(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def paths(
    events: Iterable[Ev],
    person_props: Mapping[str, Mapping[str, Any]],
    from_: datetime,
    to: datetime,
    start_event: str | None = None,
    end_event: str | None = None,
    depth: int = 4,
    limit: int = 10,
    people: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The paths report of §5: {"nodes": [{"step", "event", "people", "peopleIds"}],
    "links": [{"fromStep", "source", "target", "people"}]}.

    Each person's events in [from, to), by (timestamp, event name), consecutive equal
    names collapsed. Start mode: steps 0..depth from their first startEvent; end mode:
    steps 0, −1, …, −depth back from their first endEvent. At each step the `limit`
    names with most people (ties: name ascending) keep a node, the rest fold into the
    null node. Nodes by step ascending (time order), people descending, event
    ascending, null after names; links by fromStep, people descending, source, target
    (ascending, null after names); a link goes from step s to s + 1 in time order.

    Decision: the anchor is the first anchor-named event of the collapsed sequence
    (the same as the first in range). Decision: a person is at a step only when their
    path is long enough to have it; links join a person's consecutive steps (after
    folding, so a link can start or end at the null node). Decision: events at the
    same timestamp with the same name are one (collapsed), whatever their order of
    receipt. Decision: paths take no `where` and consider every event name. Decision:
    exactly one of start_event / end_event, depth 1..10 and limit 1..50, else
    ValueError (the API answers BAD_USER_INPUT).
    """
    if (start_event is None) == (end_event is None):
        raise ValueError("paths needs exactly one of startEvent, endEvent")
    if not 1 <= depth <= 10 or not 1 <= limit <= 50:
        raise ValueError("depth must be 1..10 and limit 1..50")
    evs = _population(events, person_props, people)
    by_person: dict[str, list[Ev]] = defaultdict(list)
    for e in evs:
        if from_ <= e.timestamp < to:
            by_person[e.person_id].append(e)

    # person -> {step: name}
    at: dict[str, dict[int, str]] = {}
    for pid, mine in by_person.items():
        mine.sort(key=lambda e: (e.timestamp, e.name))
        seq: list[str] = []
        for e in mine:
            if not seq or seq[-1] != e.name:
                seq.append(e.name)
        if start_event is not None:
            if start_event not in seq:
                continue
            i = seq.index(start_event)
            at[pid] = {k: seq[i + k] for k in range(0, depth + 1) if i + k < len(seq)}
        else:
            if end_event not in seq:
                continue
            j = seq.index(end_event)
            at[pid] = {-k: seq[j - k] for k in range(0, depth + 1) if j - k >= 0}

    steps = sorted({s for m in at.values() for s in m})
    node_of: dict[tuple[str, int], str | None] = {}
    nodes = []
    for s in steps:
        counts: dict[str, int] = defaultdict(int)
        for m in at.values():
            if s in m:
                counts[m[s]] += 1
        kept = set(sorted(counts, key=lambda n: (-counts[n], n))[:limit])
        members: dict[str | None, list[str]] = defaultdict(list)
        for pid, m in at.items():
            if s in m:
                node = m[s] if m[s] in kept else None
                node_of[(pid, s)] = node
                members[node].append(pid)
        for node, ids in members.items():
            nodes.append({"step": s, "event": node, "people": len(ids), "peopleIds": sorted(ids)})
    nodes.sort(key=lambda n: (n["step"], -n["people"], _null_last(n["event"])))

    link_counts: dict[tuple[int, str | None, str | None], int] = defaultdict(int)
    for pid, m in at.items():
        for s in m:
            if s + 1 in m:
                link_counts[(s, node_of[(pid, s)], node_of[(pid, s + 1)])] += 1
    links = [
        {"fromStep": s, "source": a, "target": b, "people": n} for (s, a, b), n in link_counts.items()
    ]
    links.sort(key=lambda l: (l["fromStep"], -l["people"], _null_last(l["source"]), _null_last(l["target"])))
    return {"nodes": nodes, "links": links}

"""The trends report's input (DESIGN.md §5 "Trends"), normalised and validated.

Decisions (docs/decisions.md, "Trends: property and math"): `property` is
required for SUM, AVERAGE, MIN, MAX and MEDIAN and refused for TOTAL, PEOPLE
and EVENTS_PER_PERSON (a property that would be silently ignored is a mistake
in the caller's query); a breakdown names exactly one of eventProperty and
personProperty, and keeps 1..MAX_BREAKDOWN_LIMIT values.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import orjson

from ...errors import BadInput
from ...storage.filters import PropertyFilter, validate_filter
from ..periods import MAX_SERIES_POINTS, Period, count_periods_overlapping, to_utc
from ..population import Population, normalised

MAX_SERIES = 10
MAX_BREAKDOWN_LIMIT = 100
# Points of the whole answer: series x (kept values + null) x periods.
MAX_TREND_POINTS = 100_000
MAX_NAME_LENGTH = 255


class TrendMath(str, Enum):
    TOTAL = "TOTAL"
    PEOPLE = "PEOPLE"
    EVENTS_PER_PERSON = "EVENTS_PER_PERSON"
    SUM = "SUM"
    AVERAGE = "AVERAGE"
    MIN = "MIN"
    MAX = "MAX"
    MEDIAN = "MEDIAN"

    @property
    def of_property(self) -> bool:
        """Computed over a numeric event property."""
        return self in _OF_PROPERTY


_OF_PROPERTY = {TrendMath.SUM, TrendMath.AVERAGE, TrendMath.MIN, TrendMath.MAX, TrendMath.MEDIAN}


def check_name(field: str, value: object, what: str = "an event name") -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH or "\x00" in value:
        raise BadInput(field, f"{what} is 1-{MAX_NAME_LENGTH} characters, without NUL")


def check_range(from_: datetime, to: datetime, interval: Period) -> int:
    """The number of periods of the range; refuses a reversed or absurd range."""
    if to < from_:
        raise BadInput("input.to", "the range [from, to) ends before it starts")
    points = count_periods_overlapping(from_, to, interval)
    if points > MAX_SERIES_POINTS:
        raise BadInput(
            "input.interval",
            f"the range holds {points} periods (at most {MAX_SERIES_POINTS}); use a longer interval",
        )
    return points


def check_where(field: str, where: tuple[PropertyFilter, ...]) -> None:
    for j, f in enumerate(where):
        validate_filter(f"{field}[{j}]", f)


@dataclass(frozen=True)
class SeriesSpec:
    event: str
    where: tuple[PropertyFilter, ...] = ()
    math: TrendMath = TrendMath.TOTAL
    property: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))
        object.__setattr__(self, "math", TrendMath(self.math))

    def check(self, field: str) -> None:
        check_name(f"{field}.event", self.event)
        check_where(f"{field}.where", self.where)
        if self.math.of_property:
            if self.property is None:
                raise BadInput(f"{field}.property", f"{self.math.value} needs a numeric event property")
            check_name(f"{field}.property", self.property, "a property key")
        elif self.property is not None:
            raise BadInput(f"{field}.property", f"{self.math.value} counts events; it takes no property")

    def normalised(self) -> list:
        return [self.event, sorted(list(f.normalised()) for f in self.where), self.math.value, self.property]


@dataclass(frozen=True)
class BreakdownSpec:
    event_property: str | None = None
    person_property: str | None = None
    limit: int = 10

    def __post_init__(self) -> None:
        if (self.event_property is None) == (self.person_property is None):
            raise BadInput("input.breakdown", "give exactly one of eventProperty or personProperty")
        if self.event_property is not None:
            check_name("input.breakdown.eventProperty", self.event_property, "a property key")
        else:
            check_name("input.breakdown.personProperty", self.person_property, "a property key")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_BREAKDOWN_LIMIT:
            raise BadInput("input.breakdown.limit", f"the limit is 1-{MAX_BREAKDOWN_LIMIT}")

    @property
    def key(self) -> str:
        return self.event_property if self.event_property is not None else self.person_property  # type: ignore[return-value]

    def normalised(self) -> list:
        return [self.event_property, self.person_property, self.limit]


@dataclass(frozen=True)
class TrendsSpec:
    series: tuple[SeriesSpec, ...]
    from_: datetime
    to: datetime
    interval: Period = Period.DAY
    breakdown: BreakdownSpec | None = None
    people: Population | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series or ()))
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "interval", Period(self.interval))
        if not 1 <= len(self.series) <= MAX_SERIES:
            raise BadInput("input.series", f"a trend has 1-{MAX_SERIES} series (got {len(self.series)})")
        for i, s in enumerate(self.series):
            s.check(f"input.series[{i}]")
        periods = check_range(self.from_, self.to, self.interval)
        per_series = 1 if self.breakdown is None else self.breakdown.limit + 1
        points = len(self.series) * per_series * periods
        if points > MAX_TREND_POINTS:
            raise BadInput(
                "input.interval",
                f"the report could hold {points} points (at most {MAX_TREND_POINTS}):"
                " use a longer interval, fewer series or a lower breakdown limit",
            )

    def normalised(self) -> list:
        return [
            "trends",
            [s.normalised() for s in self.series],
            self.from_.isoformat(),
            self.to.isoformat(),
            self.interval.value,
            None if self.breakdown is None else self.breakdown.normalised(),
            normalised(self.people),
        ]

    def cache_key(self) -> str:
        return orjson.dumps(self.normalised()).decode()


@dataclass(frozen=True)
class TrendPeopleSpec:
    """One page of a PEOPLE point's peopleList: the report, the output series
    (input series index and breakdown rank, None for the null series or no
    breakdown), the point's start, and the page (first, after a person id)."""

    report: TrendsSpec
    series: int
    rank: int | None
    start: datetime
    first: int
    after: uuid.UUID | None = None

    def cache_key(self) -> str:
        return orjson.dumps([
            "trends.people", self.report.normalised(), self.series, self.rank, to_utc(self.start).isoformat(),
            self.first, None if self.after is None else str(self.after),
        ]).decode()

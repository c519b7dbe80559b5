"""The revenue report's input (DESIGN.md §5 Revenue), validated: the report
(RevenueSpec) and one page of its topPeople (TopPeopleSpec)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson

from ...errors import BadInput
from ..periods import MAX_SERIES_POINTS, Period, count_periods_overlapping, to_utc
from ..population import Population
from ..population import normalised as population_key

MAX_KEY_LENGTH = 255


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
        key: list[object] = [
            "revenue", self.from_.isoformat(), self.to.isoformat(), self.interval.value, self.source_property,
        ]
        if self.people is not None:
            key.append({"people": population_key(self.people)})
        return orjson.dumps(key).decode()


@dataclass(frozen=True)
class TopPeopleSpec:
    """One page of topPeople: the report's input plus first/after (the
    cursor: the last entry's sum and person id)."""

    report: RevenueSpec
    first: int
    after: tuple[Decimal, uuid.UUID] | None = None

    def cache_key(self) -> str:
        after = None if self.after is None else [str(self.after[0]), str(self.after[1])]
        return orjson.dumps(["revenue.top", self.report.cache_key(), self.first, after]).decode()

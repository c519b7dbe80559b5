"""The lifecycle report's input (DESIGN.md §5 Lifecycle), normalised and validated."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

import orjson

from ...errors import BadInput
from ...storage.filters import PropertyFilter, validate_filter
from ..periods import MAX_SERIES_POINTS, Period, count_periods_overlapping, to_utc
from ..population import Population, normalised as population_normalised

MAX_NAME_LENGTH = 255


class LifecycleStatus(str, Enum):
    NEW = "NEW"
    RETURNING = "RETURNING"
    RESURRECTING = "RESURRECTING"
    DORMANT = "DORMANT"


def _time(t: object, field: str) -> datetime:
    if not isinstance(t, datetime):
        raise BadInput(field, "a date and time is needed")
    return to_utc(t)


@dataclass(frozen=True, eq=False)
class LifecycleSpec:
    """event (+ where) over [from_, to) by `interval`, for `people` (None: everyone)."""

    event: str
    from_: datetime
    to: datetime
    where: tuple[PropertyFilter, ...] = ()
    interval: Period = Period.DAY
    people: Population | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not 1 <= len(self.event) <= MAX_NAME_LENGTH or "\x00" in self.event:
            raise BadInput("input.event", f"an event name is 1-{MAX_NAME_LENGTH} characters")
        object.__setattr__(self, "where", tuple(self.where or ()))
        for i, f in enumerate(self.where):
            validate_filter(f"input.where[{i}]", f)
        object.__setattr__(self, "from_", _time(self.from_, "input.from"))
        object.__setattr__(self, "to", _time(self.to, "input.to"))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        try:
            object.__setattr__(self, "interval", Period(self.interval))
        except ValueError:
            raise BadInput("input.interval", "one of HOUR, DAY, WEEK, MONTH") from None
        points = count_periods_overlapping(self.from_, self.to, self.interval)
        if points > MAX_SERIES_POINTS:
            raise BadInput(
                "input.interval",
                f"the report would have {points} points (at most {MAX_SERIES_POINTS}); use a longer interval",
            )

    def normalised(self) -> list:
        return [
            "lifecycle", self.event, sorted(list(f.normalised()) for f in self.where),
            self.from_.isoformat(), self.to.isoformat(), self.interval.value, population_normalised(self.people),
        ]

    def cache_key(self) -> str:
        return orjson.dumps(self.normalised()).decode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LifecycleSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.cache_key())


@dataclass(frozen=True)
class LifecyclePeopleSpec:
    """One page of a point's peopleList: the people of `status` in the period
    starting at `start`, by person id, after the id `after`."""

    report: LifecycleSpec
    start: datetime
    status: LifecycleStatus
    first: int
    after: uuid.UUID | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start).astimezone(timezone.utc))
        object.__setattr__(self, "status", LifecycleStatus(self.status))

    def cache_key(self) -> str:
        return orjson.dumps([
            "lifecycle.people", self.report.cache_key(), self.start.isoformat(), self.status.value, self.first,
            None if self.after is None else str(self.after),
        ]).decode()

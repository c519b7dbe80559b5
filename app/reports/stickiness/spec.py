"""The stickiness report's input (DESIGN.md §5 "Stickiness"), validated."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from ...storage.filters import PropertyFilter
from ..periods import Period, to_utc
from ..population import Population, normalised
from ..trends.spec import check_name, check_range, check_where


@dataclass(frozen=True)
class StickinessSpec:
    event: str
    from_: datetime
    to: datetime
    where: tuple[PropertyFilter, ...] = ()
    interval: Period = Period.DAY
    people: Population | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "interval", Period(self.interval))
        check_name("input.event", self.event)
        check_where("input.where", self.where)
        check_range(self.from_, self.to, self.interval)

    def normalised(self) -> list:
        return [
            "stickiness", self.event, sorted(list(f.normalised()) for f in self.where), self.from_.isoformat(),
            self.to.isoformat(), self.interval.value, normalised(self.people),
        ]

    def cache_key(self) -> str:
        return orjson.dumps(self.normalised()).decode()


@dataclass(frozen=True)
class StickinessPeopleSpec:
    """One page of a bucket's peopleList: the persons active in exactly
    `periods` periods, by id, after a person id."""

    report: StickinessSpec
    periods: int
    first: int
    after: uuid.UUID | None = None

    def cache_key(self) -> str:
        return orjson.dumps([
            "stickiness.people", self.report.normalised(), self.periods, self.first,
            None if self.after is None else str(self.after),
        ]).decode()

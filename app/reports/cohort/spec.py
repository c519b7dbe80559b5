"""The cohort report's input (DESIGN.md §5 Cohort), validated."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson

from ...errors import BadInput
from ..periods import Period, to_utc
from ..population import Population
from ..population import normalised as population_key

MAX_BUCKETS = 120
MAX_NAME_LENGTH = 255


class Mode(str, Enum):
    """Who is a member of a row (DESIGN.md §5, "Cohort: recurring and cumulative")."""

    # A person once, in the row of their first cohortEvent ever.
    FIRST_TIME = "FIRST_TIME"
    # A person in every row whose period holds one of their cohortEvents in range.
    RECURRING = "RECURRING"


MODES = tuple(m.value for m in Mode)


@dataclass(frozen=True)
class CohortSpec:
    cohort_event: str
    return_event: str
    from_: datetime
    to: datetime
    cohort_period: Period = Period.WEEK
    bucket: Period = Period.WEEK
    buckets: int = 12
    # FIRST_TIME or RECURRING (a Mode, or its name: kept as the plain name)
    mode: str = Mode.FIRST_TIME.value
    cumulative: bool = False
    people: Population | None = None

    def __post_init__(self) -> None:
        for field, name in (("cohortEvent", self.cohort_event), ("returnEvent", self.return_event)):
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
                raise BadInput(f"input.{field}", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            if "\x00" in name:  # no stored name can hold one; PostgreSQL would refuse it unnamed
                raise BadInput(f"input.{field}", "the NUL character is not allowed")
        object.__setattr__(self, "from_", to_utc(self.from_))
        object.__setattr__(self, "to", to_utc(self.to))
        object.__setattr__(self, "cohort_period", Period(self.cohort_period))
        object.__setattr__(self, "bucket", Period(self.bucket))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        if not isinstance(self.buckets, int) or not 1 <= self.buckets <= MAX_BUCKETS:
            raise BadInput("input.buckets", f"between 1 and {MAX_BUCKETS} buckets (got {self.buckets})")
        mode = getattr(self.mode, "value", self.mode)
        if mode not in MODES:
            raise BadInput("input.mode", f"FIRST_TIME or RECURRING (got {self.mode!r})")
        object.__setattr__(self, "mode", mode)
        if not isinstance(self.cumulative, bool):
            raise BadInput("input.cumulative", "true or false")
        if self.people is not None:
            if not isinstance(self.people, Population):
                raise BadInput("input.people", "not a people filter")
            if self.people.is_everyone:  # `people: {}`: everyone, the report without a filter
                object.__setattr__(self, "people", None)

    @property
    def recurring(self) -> bool:
        return self.mode == Mode.RECURRING.value

    @property
    def has_options(self) -> bool:
        return self.recurring or self.cumulative or self.people is not None

    def cache_key(self) -> str:
        """The normalised input: equal for equal reports, whatever the offsets sent.
        The options only when given: without them the key is the one it always was."""
        key: list[Any] = [
            "cohort", self.cohort_event, self.return_event, self.from_.isoformat(), self.to.isoformat(),
            self.cohort_period.value, self.bucket.value, self.buckets,
        ]
        if self.has_options:
            key.append({"mode": self.mode, "cumulative": self.cumulative, "people": population_key(self.people)})
        return orjson.dumps(key).decode()

"""The paths report's input (DESIGN.md §5 Paths), normalised and validated."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from ...errors import BadInput
from ..periods import to_utc
from ..population import Population, normalised as population_normalised

MAX_NAME_LENGTH = 255
MAX_DEPTH = 10
MAX_LIMIT = 50


def _time(t: object, field: str) -> datetime:
    if not isinstance(t, datetime):
        raise BadInput(field, "a date and time is needed")
    return to_utc(t)


def _name(value: object, field: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH or "\x00" in value:
        raise BadInput(field, f"an event name is 1-{MAX_NAME_LENGTH} characters")


def _int_in(value: object, lo: int, hi: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadInput(field, f"between {lo} and {hi} (got {value!r})")


@dataclass(frozen=True, eq=False)
class PathsSpec:
    """Paths from `start_event` or to `end_event` (exactly one), over [from_, to)."""

    from_: datetime
    to: datetime
    start_event: str | None = None
    end_event: str | None = None
    depth: int = 4
    limit: int = 10
    people: Population | None = None

    def __post_init__(self) -> None:
        if self.start_event is None and self.end_event is None:
            raise BadInput("input.startEvent", "give exactly one of startEvent or endEvent (got neither)")
        if self.start_event is not None and self.end_event is not None:
            raise BadInput("input.endEvent", "give exactly one of startEvent or endEvent (got both)")
        if self.start_event is not None:
            _name(self.start_event, "input.startEvent")
        else:
            _name(self.end_event, "input.endEvent")
        object.__setattr__(self, "from_", _time(self.from_, "input.from"))
        object.__setattr__(self, "to", _time(self.to, "input.to"))
        if self.to < self.from_:
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        _int_in(self.depth, 1, MAX_DEPTH, "input.depth")
        _int_in(self.limit, 1, MAX_LIMIT, "input.limit")

    @property
    def anchor(self) -> str:
        """The start or the end event."""
        return self.start_event if self.start_event is not None else self.end_event  # type: ignore[return-value]

    @property
    def forward(self) -> bool:
        """True: from startEvent onwards; False: up to endEvent."""
        return self.start_event is not None

    def normalised(self) -> list:
        return [
            "paths", self.start_event, self.end_event, self.from_.isoformat(), self.to.isoformat(),
            self.depth, self.limit, population_normalised(self.people),
        ]

    def cache_key(self) -> str:
        return orjson.dumps(self.normalised()).decode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathsSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.cache_key())


@dataclass(frozen=True)
class PathsPeopleSpec:
    """One page of a node's peopleList: the people at (step, event) — event None
    is the folded node — by person id, after the id `after`."""

    report: PathsSpec
    step: int
    event: str | None
    first: int
    after: uuid.UUID | None = None

    def cache_key(self) -> str:
        return orjson.dumps([
            "paths.people", self.report.cache_key(), self.step, self.event, self.first,
            None if self.after is None else str(self.after),
        ]).decode()

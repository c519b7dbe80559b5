"""The population filter of every report (DESIGN.md §5, "Population filter"):
`people: PeopleFilter` — only persons that match it count, everywhere in the
report. The filter is the one of `people(where:)`: properties (the person's
current values) and didEvent (within from/to when given; without didEvent,
from and to bound nothing, as in `people(where:)`).

A report restricts itself with `population_part(statement, spec.people)`, which
adds a part `population(id)` of the matching live person ids and returns its
name (None when there is no filter: everyone counts), then joins or filters its
person ids against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from ..errors import BadInput
from ..storage.filters import PropertyFilter, filters_sql, validate_filter
from .periods import to_utc
from .sql import Statement

MAX_NAME_LENGTH = 255


@dataclass(frozen=True, eq=False)
class Population:
    """A normalised, validated PeopleFilter; `field` is where it sits in the input."""

    properties: tuple[PropertyFilter, ...] = ()
    did_event: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    field: str = "input.people"

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", tuple(self.properties or ()))
        for i, f in enumerate(self.properties):
            validate_filter(f"{self.field}.properties[{i}]", f)
        if self.did_event is not None and (
            not isinstance(self.did_event, str) or not 1 <= len(self.did_event) <= MAX_NAME_LENGTH
            or "\x00" in self.did_event
        ):
            raise BadInput(f"{self.field}.didEvent", f"an event name is 1-{MAX_NAME_LENGTH} characters")
        if self.from_ is not None:
            object.__setattr__(self, "from_", to_utc(self.from_))
        if self.to is not None:
            object.__setattr__(self, "to", to_utc(self.to))
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            raise BadInput(f"{self.field}.to", "the range [from, to) ends before it starts")

    @property
    def is_everyone(self) -> bool:
        return not self.properties and self.did_event is None

    def normalised(self) -> list:
        return [
            sorted(list(f.normalised()) for f in self.properties),
            self.did_event,
            None if self.from_ is None else self.from_.isoformat(),
            None if self.to is None else self.to.isoformat(),
        ]

    def cache_key(self) -> str:
        return orjson.dumps(self.normalised()).decode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Population) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.cache_key())


def normalised(population: Population | None) -> list | None:
    """A report's cache-key part for its population (None: everyone)."""
    return None if population is None or population.is_everyone else population.normalised()


def population_part(q: Statement, population: Population | None, project: str = "$1",
                    materialized: bool = True) -> str | None:
    """Adds `population(id)`: the live persons of the project (`project`: the
    placeholder of its id) who match; None (nothing added) when everyone counts.
    materialized=False (Citus, a report's per-shard statement): the part is
    inlined where it is used, a semi-join on person_id with the persons of
    the same shard (co-located), so Citus pushes it down with the rest rather
    than pull the population to the coordinator."""
    if population is None or population.is_everyone:
        return None
    where = [f"p.project_id = {project}", "p.merged_into IS NULL",
             filters_sql("p.properties", list(population.properties), q.params)]
    if population.did_event is not None:
        cond = [f"e.project_id = {project}", "e.person_id = p.id", f"e.name = {q.param(population.did_event)}::text"]
        if population.from_ is not None:
            cond.append(f"e.ts >= {q.param(population.from_)}::timestamptz")
        if population.to is not None:
            cond.append(f"e.ts < {q.param(population.to)}::timestamptz")
        where.append("EXISTS (SELECT FROM events e WHERE " + " AND ".join(cond) + ")")
    return q.part("population", "SELECT p.id FROM persons p WHERE " + "\n  AND ".join(where),
                  materialized=materialized)

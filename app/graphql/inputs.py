"""GraphQL input types (contract.graphql) and their conversion to domain values."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import strawberry
from strawberry.scalars import JSON

from ..ingest.validation import EventIn
from ..reports.population import Population
from ..storage.filters import PropertyFilter as PropertyFilterValue
from ..storage.filters import validate_filter
from .types import FilterOp


@strawberry.input
class PropertyFilter:
    key: str
    op: FilterOp = FilterOp.EQ
    value: Optional[JSON] = None

    def to_domain(self, field: str) -> PropertyFilterValue:
        f = PropertyFilterValue(self.key, self.op, self.value)
        validate_filter(field, f)
        return f


def filters(values: Optional[list[PropertyFilter]], field: str) -> list[PropertyFilterValue] | None:
    if not values:
        return None
    return [f.to_domain(f"{field}[{i}]") for i, f in enumerate(values)]


@strawberry.input
class RecordEventInput:
    identity: str
    name: str
    properties: Optional[JSON] = None
    timestamp: Optional[datetime] = strawberry.field(
        default=None, description="When it happened; defaults to the time the server received it."
    )
    id: Optional[str] = strawberry.field(
        default=None,
        description="Idempotency key: a second event with the same id in the same project is not stored again.",
    )

    def to_domain(self) -> EventIn:
        return EventIn(self.identity, self.name, self.properties, self.timestamp, self.id)


# Its fields (GraphQL and Python names alike); tests/graphql/test_inputs.py
# checks this against the type.
RECORD_EVENT_FIELDS = ("identity", "name", "properties", "timestamp", "id")


def _record_event_input(cls: type, value, context) -> RecordEventInput:
    """RecordEventInput from its input value. Its fields are scalars that
    graphql-core has coerced already (the DateTime scalar parsed), so
    Strawberry's generic per-field conversion adds nothing; for recordEvents
    with 1,000 events it was a third of the request's CPU."""
    return cls(**{name: value.get(name) for name in RECORD_EVENT_FIELDS})


# Strawberry's hook for input types that build their own value.
RecordEventInput.__strawberry_definition__.from_input = _record_event_input


@strawberry.input
class IdentifyInput:
    anonymous_id: str
    user_id: str


@strawberry.input
class AliasInput:
    identity: str
    other_identity: str
    force: bool = strawberry.field(
        default=False, description="Merge even when both sides are already identified people (read key only)."
    )


@strawberry.input
class SetPropertiesInput:
    identity: str
    properties: JSON
    timestamp: Optional[datetime] = None


@strawberry.input
class DeletePersonInput:
    identity: Optional[str] = None
    id: Optional[strawberry.ID] = None


@strawberry.input
class PeopleFilter:
    properties: Optional[list[PropertyFilter]] = None
    did_event: Optional[str] = strawberry.field(
        default=None, description="Only people who did this event (within from/to when given)."
    )
    from_: Optional[datetime] = strawberry.field(default=None, name="from")
    to: Optional[datetime] = None

    def to_population(self, field: str = "input.people") -> Population:
        """The report's population filter (app/reports/population.py); `field`
        names it in errors."""
        return Population(
            properties=tuple(f.to_domain(f"{field}.properties[{i}]") for i, f in enumerate(self.properties or ())),
            did_event=self.did_event,
            from_=self.from_,
            to=self.to,
            field=field,
        )


def population(value: Optional[PeopleFilter], field: str = "input.people") -> Population | None:
    """A report input's `people` as a Population (None: absent)."""
    return None if value is None else value.to_population(field)


@strawberry.input
class EventFilter:
    names: Optional[list[str]] = None
    identity: Optional[str] = None
    from_: Optional[datetime] = strawberry.field(default=None, name="from")
    to: Optional[datetime] = None
    properties: Optional[list[PropertyFilter]] = None


@strawberry.input
class LiveEventFilter:
    names: Optional[list[str]] = None
    identity: Optional[str] = None

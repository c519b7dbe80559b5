"""GraphQL object types of people and events (contract.graphql)."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Optional

import strawberry
from strawberry.scalars import JSON

from ..errors import BadInput
from ..ingest.identity import Outcome
from ..storage.events import EventRow
from ..storage.filters import FilterOp as FilterOpValue
from ..storage.people import PersonRow
from .pagination import check_first, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from .context import Context

FilterOp = strawberry.enum(FilterOpValue, name="FilterOp")
IdentifyOutcome = strawberry.enum(
    Outcome,
    name="IdentifyOutcome",
    description=None,
)


@strawberry.enum
class Period(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: Optional[str]


@strawberry.type
class PropertyChange:
    key: str
    value: Optional[JSON]
    at: datetime


@strawberry.type
class Event:
    row: strawberry.Private[EventRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def person_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.person_id))

    @strawberry.field(description="The identity the event was recorded under.")
    def identity(self) -> str:
        return self.row.identity

    @strawberry.field
    def properties(self) -> JSON:
        return self.row.properties

    @strawberry.field
    def revenue(self) -> Optional[Decimal]:
        return self.row.revenue

    @strawberry.field
    def timestamp(self) -> datetime:
        return self.row.timestamp

    @strawberry.field
    def received_at(self) -> datetime:
        return self.row.received_at


@strawberry.type
class EventConnection:
    nodes: list[Event]
    page_info: PageInfo


def event_connection(rows: list[EventRow], first: int) -> EventConnection:
    page = rows[:first]
    end = encode_cursor("e", page[-1].timestamp.isoformat(), page[-1].seq) if page else None
    return EventConnection(
        nodes=[Event(row=r) for r in page], page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end)
    )


def event_after(after: str | None) -> tuple[datetime, int] | None:
    values = decode_cursor(after, "e")
    if values is None:
        return None
    try:
        return datetime.fromisoformat(values[0]), int(values[1])
    except (ValueError, IndexError, TypeError):
        raise BadInput("after", "not a cursor of this list") from None


@strawberry.type
class Person:
    """A person. With the public write key only `id` and `identified` are
    readable: anyone can call identify with it, so it must not reveal people."""

    row: strawberry.Private[PersonRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def identities(self, info: strawberry.Info) -> list[str]:
        info.context.require_read()  # the write key is public: it may not read people
        return self.row.identities

    @strawberry.field
    def identified(self) -> bool:
        return self.row.identified

    @strawberry.field(description="Current value of each property: the latest set wins, by timestamp.")
    def properties(self, info: strawberry.Info) -> JSON:
        info.context.require_read()  # the write key is public: it may not read people
        return self.row.properties

    @strawberry.field
    def first_seen(self, info: strawberry.Info) -> Optional[datetime]:
        info.context.require_read()  # the write key is public: it may not read people
        return self.row.first_seen

    @strawberry.field
    def last_seen(self, info: strawberry.Info) -> Optional[datetime]:
        info.context.require_read()  # the write key is public: it may not read people
        return self.row.last_seen

    @strawberry.field
    def lifetime_revenue(self, info: strawberry.Info) -> Decimal:
        info.context.require_read()  # the write key is public: it may not read people
        return self.row.lifetime_revenue

    @strawberry.field
    async def events(
        self, info: strawberry.Info["Context", None], first: int = 50, after: Optional[str] = None,
        names: Optional[list[str]] = None,
    ) -> EventConnection:
        info.context.require_read()
        check_first(first)
        rows = await info.context.services.events.list(
            info.context.project_id, person_id=self.row.id, names=names, first=first, after=event_after(after)
        )
        return event_connection(rows, first)

    @strawberry.field(description="Every value the property has had, oldest first.")
    async def property_history(self, info: strawberry.Info["Context", None], key: str) -> list[PropertyChange]:
        info.context.require_read()
        rows = await info.context.services.people.property_history(info.context.project_id, self.row.id, key)
        return [PropertyChange(key=r.key, value=r.value, at=r.at) for r in rows]


@strawberry.type
class PersonConnection:
    nodes: list[Person]
    page_info: PageInfo
    total_count: int


@strawberry.type
class RecordEventPayload:
    event: Event
    duplicate: bool


@strawberry.type
class RecordEventsPayload:
    accepted: int
    duplicates: int


@strawberry.type
class IdentifyPayload:
    person: Person
    outcome: IdentifyOutcome


@strawberry.type
class SetPropertiesPayload:
    person: Person


@strawberry.type
class DeletePersonPayload:
    deleted: bool
    events: int


def parse_person_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(field, "not a person id") from None

"""Query resolvers for people and events. Reports live in app/graphql/reports.py."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

import strawberry

from ..errors import BadInput
from .context import Context
from .inputs import EventFilter, PeopleFilter, filters
from .pagination import check_first, decode_cursor, encode_cursor
from .types import EventConnection, PageInfo, Person, PersonConnection, event_after, event_connection, parse_person_id

Info = strawberry.Info[Context, None]


async def person(info: Info, identity: Optional[str] = None, id: Optional[strawberry.ID] = None) -> Optional[Person]:
    info.context.require_read()
    if (identity is None) == (id is None):
        raise BadInput("identity", "give exactly one of identity or id")
    services, project_id = info.context.services, info.context.project_id
    if identity is not None:
        row = await services.people.by_identity(project_id, identity)
    else:
        pid = parse_person_id(id)
        row = (await services.people.by_ids(project_id, [pid])).get(pid)
    return Person(row=row) if row else None


def _people_after(after: Optional[str]) -> tuple[datetime, uuid.UUID] | None:
    values = decode_cursor(after, "p")
    if values is None:
        return None
    try:
        return datetime.fromisoformat(values[0]), uuid.UUID(values[1])
    except (ValueError, IndexError, TypeError):
        raise BadInput("after", "not a cursor of this list") from None


async def people(
    info: Info, where: Optional[PeopleFilter] = None, first: int = 50, after: Optional[str] = None
) -> PersonConnection:
    info.context.require_read()
    check_first(first)
    where = where or PeopleFilter()
    rows, total = await info.context.services.people.list(
        info.context.project_id,
        properties=filters(where.properties, "where.properties"),
        did_event=where.did_event,
        since=where.from_,
        until=where.to,
        first=first,
        after=_people_after(after),
    )
    page = rows[:first]
    end = encode_cursor("p", page[-1].created_at.isoformat(), str(page[-1].id)) if page else None
    return PersonConnection(
        nodes=[Person(row=r) for r in page],
        page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end),
        total_count=total,
    )


async def events(
    info: Info, where: Optional[EventFilter] = None, first: int = 50, after: Optional[str] = None
) -> EventConnection:
    info.context.require_read()
    check_first(first)
    where = where or EventFilter()
    rows = await info.context.services.events.list(
        info.context.project_id,
        identity=where.identity,
        names=where.names,
        since=where.from_,
        until=where.to,
        properties=filters(where.properties, "where.properties"),
        first=first,
        after=event_after(after),
    )
    return event_connection(rows, first)


async def event_names(info: Info, first: int = 200) -> list[str]:
    info.context.require_read()
    check_first(first)
    return await info.context.services.events.names(info.context.project_id, first)


@strawberry.type
class PeopleQuery:
    person: Optional[Person] = strawberry.field(
        resolver=person,
        description="A person by any of their identities, or by person id"
        " (a merged-away id resolves to the surviving person).",
    )
    people: PersonConnection = strawberry.field(resolver=people)
    events: EventConnection = strawberry.field(resolver=events)
    event_names: list[str] = strawberry.field(
        resolver=event_names, description="Distinct event names seen in the project, most frequent first."
    )

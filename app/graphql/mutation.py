"""Mutations: thin adapters over the ingest service."""
from __future__ import annotations

import uuid

import strawberry

from ..auth import Role
from ..errors import BadInput, NotFound
from ..ingest.validation import EventIn
from ..storage.events import EventRow
from .context import Context
from .inputs import AliasInput, DeletePersonInput, IdentifyInput, RecordEventInput, SetPropertiesInput
from .types import (
    DeletePersonPayload, Event, IdentifyPayload, Person, RecordEventPayload, RecordEventsPayload,
    SetPropertiesPayload, parse_person_id,
)

Info = strawberry.Info[Context, None]


async def _person(info: Info, person_id: uuid.UUID) -> Person:
    row = (await info.context.services.people.by_ids(info.context.project_id, [person_id])).get(person_id)
    if row is None:  # cannot happen after a commit; say so clearly if it does
        raise NotFound(f"person {person_id} not found")
    return Person(row=row)


def _check_duplicate_for_write_key(sent: EventIn, stored: EventRow) -> None:
    """A duplicate's answer is the event stored under that id. The write key
    is public, and ids can be computed (a Kissmetrics `_d=1` event's is a hash
    of identity, name and time): with it, the stored event is shown only when
    it is the caller's own retry (same identity, name and properties); an id
    that holds another event is refused without showing it."""
    if (stored.identity, stored.name, stored.properties) != (sent.identity, sent.name, sent.properties or {}):
        raise BadInput("input.id", "an event with this id was already recorded, with other content")


async def record_event_payload(context: Context, input: RecordEventInput) -> RecordEventPayload:
    """recordEvent's work, also run without the engine for a plain recordEvent
    document (app/graphql/prepared.py)."""
    sent = input.to_domain()
    recorded = await context.services.ingest.record_event(context.project_id, sent)
    if recorded.duplicate and context.principal.role is not Role.READ:
        _check_duplicate_for_write_key(sent, recorded.event)
    return RecordEventPayload(event=Event(row=recorded.event), duplicate=recorded.duplicate)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def record_event(self, info: Info, input: RecordEventInput) -> RecordEventPayload:
        replay = info.context.replay_error
        if replay is not None:  # it ran already, without the engine, and raised this
            info.context.replay_error = None
            raise replay
        return await record_event_payload(info.context, input)

    @strawberry.mutation(description="Up to 1000 events in one call; all or none are stored.")
    async def record_events(self, info: Info, input: list[RecordEventInput]) -> RecordEventsPayload:
        recorded = await info.context.services.ingest.record_events(
            info.context.project_id, [e.to_domain() for e in input]
        )
        duplicates = sum(1 for r in recorded if r.duplicate)
        return RecordEventsPayload(accepted=len(recorded) - duplicates, duplicates=duplicates)

    @strawberry.mutation
    async def identify(self, info: Info, input: IdentifyInput) -> IdentifyPayload:
        linked = await info.context.services.ingest.identify(info.context.project_id, input.anonymous_id, input.user_id)
        return IdentifyPayload(person=await _person(info, linked.person_id), outcome=linked.outcome)

    @strawberry.mutation
    async def alias(self, info: Info, input: AliasInput) -> IdentifyPayload:
        if input.force:
            info.context.require_read()
        linked = await info.context.services.ingest.alias(
            info.context.project_id, input.identity, input.other_identity, force=input.force
        )
        return IdentifyPayload(person=await _person(info, linked.person_id), outcome=linked.outcome)

    @strawberry.mutation
    async def set_properties(self, info: Info, input: SetPropertiesInput) -> SetPropertiesPayload:
        person_id = await info.context.services.ingest.set_properties(
            info.context.project_id, input.identity, input.properties, input.timestamp
        )
        return SetPropertiesPayload(person=await _person(info, person_id))

    @strawberry.mutation(description="Removes a person with their events, identities and properties (read key).")
    async def delete_person(self, info: Info, input: DeletePersonInput) -> DeletePersonPayload:
        info.context.require_read()
        if input.identity is None and input.id is None:
            raise BadInput("input.identity", "give exactly one of identity or id")
        if input.identity is not None and input.id is not None:
            raise BadInput("input.id", "give exactly one of identity or id, not both")
        person_id = parse_person_id(input.id, "input.id") if input.id is not None else None
        gone = await info.context.services.ingest.delete_person(
            info.context.project_id, identity=input.identity, person_id=person_id
        )
        return DeletePersonPayload(deleted=gone.deleted, events=gone.events)

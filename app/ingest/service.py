"""The ingest service: the one way in for every write (GraphQL mutations, the
Kissmetrics and Segment endpoints, the importer and the demo loader)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import asyncpg

from ..errors import BadInput, Unavailable
from ..storage import identities as identity_store
from ..storage import lifecycle as lifecycle_store
from ..storage.lifecycle import DeletedPerson
from ..storage import people as people_store
from ..storage.pool import CONNECTION_ERRORS
from .fields import detail, field_names
from .identity import Action, Decision, Outcome, decide_alias, decide_identify, person_id_for, validate_identity
from .plan import Link, Plan, SetTraits, check_link, check_traits
from .retry import LINK, RETRYABLE
from .retry import Conflict as _Retry
from .validation import MAX_BATCH_EVENTS, EventIn, NormalEvent, check_batch, normalise_batch, normalise_event
from .writer import EventWrite, PropertyWrite, Recorded, Writer, json_text


@dataclass(frozen=True)
class Linked:
    person_id: uuid.UUID
    outcome: Outcome


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class IngestService:
    def __init__(self, pool: asyncpg.Pool, writer: Writer, clock: Callable[[], datetime] = now_utc):
        self.pool = pool
        self.writer = writer
        self.clock = clock
        # Told (project id) after this process removed a person's data: the
        # report generations it holds are read again (app/reports/generations.py).
        self.removal_observers: list[Callable[[uuid.UUID], None]] = []

    async def record_event(self, project_id: uuid.UUID, event: EventIn) -> Recorded:
        normal = normalise_event(event, self.clock())
        (recorded,) = await self.writer.submit(EventWrite(project_id, [normal]))
        return recorded

    async def record_events(self, project_id: uuid.UUID, events: list[EventIn]) -> list[Recorded]:
        """All or none: the batch commits in one transaction."""
        normal = normalise_batch(events, self.clock())
        return await self.writer.submit(EventWrite(project_id, normal))

    async def record_normalised(self, project_id: uuid.UUID, events: list[NormalEvent]) -> list[Recorded]:
        """record_events for events a transport has normalised already (to
        refuse a whole request before writing anything) — not twice."""
        return await self.writer.submit(EventWrite(project_id, check_batch(events)))

    async def set_properties(
        self, project_id: uuid.UUID, identity: str, properties: Any, timestamp: datetime | None = None
    ) -> uuid.UUID:
        checked, at = check_traits(SetTraits(identity, properties, timestamp), self.clock())
        values = {key: json_text(value) for key, value in checked.items()}
        return await self.writer.submit(PropertyWrite(project_id, identity, values, at))

    async def delete_person(
        self, project_id: uuid.UUID, *, identity: str | None = None, person_id: uuid.UUID | None = None
    ) -> "DeletedPerson":
        """The person (by identity, or id: a merged-away id means its survivor)
        and everything of it, in one transaction (app/storage/lifecycle.py)."""
        if identity is not None:
            validate_identity("input.identity", identity, for_linking=False)
        try:
            deleted = await lifecycle_store.delete_person(self.pool, project_id, identity=identity, person_id=person_id)
        except asyncpg.SerializationError:
            raise Unavailable("the person changed too often while deleting it; retry") from None
        except CONNECTION_ERRORS as exc:
            raise Unavailable(f"database unavailable: {type(exc).__name__}") from None
        if deleted.deleted:
            for observe in self.removal_observers:
                observe(project_id)
        return deleted

    async def identify(self, project_id: uuid.UUID, anonymous_id: str, user_id: str) -> Linked:
        check_link(Link(anonymous_id, user_id, alias=False))
        return await self._link(project_id, anonymous_id, user_id, decide_identify)

    async def alias(self, project_id: uuid.UUID, identity: str, other: str, *, force: bool = False) -> Linked:
        check_link(Link(identity, other, alias=True))
        return await self._link(project_id, identity, other, lambda a, b: decide_alias(a, b, force=force))

    async def _link(self, project_id: uuid.UUID, left: str, right: str, decide) -> Linked:
        for attempt in range(LINK.attempts):
            try:
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        return await self._link_once(conn, project_id, left, right, decide)
            except RETRYABLE:
                await LINK.pause(attempt)
            except CONNECTION_ERRORS as exc:
                raise Unavailable(f"database unavailable: {type(exc).__name__}") from None
        raise Unavailable("identities changed too often while linking; retry")

    async def _link_once(self, conn, project_id: uuid.UUID, left: str, right: str, decide) -> Linked:
        states = await identity_store.lock_people_of(conn, project_id, [left, right])
        decision: Decision = decide(states.get(left), states.get(right))
        person_id = decision.survivor
        if decision.action is Action.CREATE_WITH_BOTH:
            person_id = person_id_for(project_id, left)
            await identity_store.create_person(conn, project_id, person_id, identified=True)
            for identity in dict.fromkeys([left, right]):
                if not await identity_store.add_identity(conn, project_id, identity, person_id):
                    raise _Retry()
        elif decision.action is Action.ADD_TO_LEFT:
            if not await identity_store.add_identity(conn, project_id, right, decision.survivor):
                raise _Retry()
        elif decision.action is Action.ADD_TO_RIGHT:
            if not await identity_store.add_identity(conn, project_id, left, decision.survivor):
                raise _Retry()
        elif decision.action is Action.CREATE_RIGHT:
            person_id = person_id_for(project_id, right)
            await identity_store.create_person(conn, project_id, person_id, identified=True)
            if not await identity_store.add_identity(conn, project_id, right, person_id):
                raise _Retry()
        elif decision.action is Action.MERGE:
            await identity_store.merge_people(conn, project_id, decision.survivor, decision.loser)
            await people_store.refresh_properties(conn, project_id, [decision.survivor])
        await identity_store.mark_identified(conn, project_id, decision.identify)
        return Linked(person_id, decision.outcome)

    async def apply(self, project_id: uuid.UUID, plan: Plan, events: list[NormalEvent]) -> None:
        """Carry out a checked plan; `events`: what plan.check() returned.
        Links first (the same pair once), then the events, one transaction per
        batch limit (a protocol's batch of tiny messages can hold more), then
        the property sets."""
        done: set[tuple[str, str, bool]] = set()
        for link in plan.links:
            key = (link.left, link.right, link.alias)
            if key in done:  # linking the same pair again changes nothing
                continue
            done.add(key)
            with field_names(link.fields):
                if link.alias:
                    await self.alias(project_id, link.left, link.right, force=False)
                else:
                    await self.identify(project_id, link.left, link.right)
        for start in range(0, len(events), MAX_BATCH_EVENTS):
            try:
                await self.record_normalised(project_id, events[start:start + MAX_BATCH_EVENTS])
            except BadInput as exc:  # the batch as a whole (its size)
                if plan.batch_field is None:
                    raise
                raise BadInput(plan.batch_field, detail(exc)) from None
        for traits in plan.traits:
            with field_names(traits.fields):
                await self.set_properties(project_id, traits.identity, traits.traits, traits.timestamp)

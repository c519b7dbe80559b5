"""The group-commit writer. Concurrent requests put their writes on a queue;
a few flusher tasks each take everything waiting and commit it in ONE
transaction, then answer every request. A success answer therefore always
means committed, and under load one fsync serves many requests.

A request's writes are a unit (a batch is all-or-nothing): if a transaction
fails for one request, the others are retried without it."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable

import asyncpg
import orjson

from ..errors import Unavailable
from ..storage import events as event_store
from ..storage import identities as identity_store
from ..storage import people as people_store
from ..storage.pool import CONNECTION_ERRORS
from ..storage.events import EventRow
from ..storage.identity_cache import IdentityCache
from ..storage.person_ids import person_id_for
from .retry import FLUSH, RETRYABLE, Conflict
from .validation import NormalEvent

log = logging.getLogger("whodid.writer")

# Called inside the transaction with the rows it inserted, e.g. to NOTIFY
# live subscribers: PostgreSQL delivers a NOTIFY only if and when it commits.
Publisher = Callable[[asyncpg.Connection, uuid.UUID, list[EventRow]], Awaitable[None]]
# Called after a commit with (number of items, seconds) for metrics.
FlushObserver = Callable[[int, float], None]
# Called after a commit with (project, rows the commit added to its tables), e.g.
# to keep the planner's statistics up with the data (app/storage/statistics.py).
GrowthObserver = Callable[[uuid.UUID, int], None]

# An identity of the flush was created by another transaction meanwhile.
IdentityRace = Conflict


@dataclass
class EventWrite:
    project_id: uuid.UUID
    events: list[NormalEvent]
    future: asyncio.Future = field(default=None)

    @property
    def size(self) -> int:
        return len(self.events)


@dataclass
class PropertyWrite:
    project_id: uuid.UUID
    identity: str
    values_json: dict[str, str]
    at: datetime
    future: asyncio.Future = field(default=None)

    size = 1


# Not frozen: one is built per event, and a frozen dataclass's __init__
# costs ~5x as much (object.__setattr__ per field).
@dataclass(slots=True)
class Recorded:
    event: EventRow
    duplicate: bool


class _Stage:
    """A flusher's hold on the writer's stage lock, released at most once."""

    __slots__ = ("lock", "held")

    def __init__(self, lock: asyncio.Lock):
        self.lock = lock
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


class Writer:
    def __init__(self, pool: asyncpg.Pool, *, flushers: int = 2, max_batch: int = 2000, max_queue: int = 20000):
        self.pool = pool
        self.max_batch = max_batch
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=max_queue)
        self.flusher_count = flushers
        self.publishers: list[Publisher] = []
        self.observers: list[FlushObserver] = []
        self.growth_observers: list[GrowthObserver] = []
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._stage = asyncio.Lock()
        # On Citus, identities' persons held between flushes (app/storage/identity_cache.py).
        self.persons = IdentityCache()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"writer-{i}") for i in range(self.flusher_count)]

    async def close(self) -> None:
        """Drain: everything queued is committed (or failed) before this returns."""
        self._closing = True
        await self.queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def submit(self, write: EventWrite | PropertyWrite):
        if self._closing:
            raise Unavailable("the server is shutting down")
        write.future = asyncio.get_running_loop().create_future()
        if self.queue.full():
            await self.queue.put(write)
        else:
            self.queue.put_nowait(write)  # without a coroutine of its own
        return await write.future

    async def _run(self) -> None:
        while True:
            # The stage: at most one flusher at a time takes a batch and runs
            # its statements; it hands the stage on as it starts to COMMIT, so
            # the next batch's statements overlap this commit's WAL flush.
            # Requests arriving meanwhile wait in the queue and go together
            # in the next transaction (larger groups, fewer round trips and
            # commits per event than flushers that each take what is there).
            await self._stage.acquire()
            stage = _Stage(self._stage)
            batch: list = []
            try:
                first = await self.queue.get()
                batch = [first]
                size = first.size
                while size < self.max_batch and not self.queue.empty():
                    item = self.queue.get_nowait()
                    batch.append(item)
                    size += item.size
                await self._flush(batch, stage)
            except Exception:  # never let a flusher die
                log.exception("writer flush failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(Unavailable("write failed"))
            finally:
                stage.release()
                for _ in batch:
                    self.queue.task_done()

    async def _flush(self, batch: list, stage: "_Stage | None" = None) -> None:
        started = time.perf_counter()
        for attempt in range(FLUSH.attempts):
            try:
                results, grown = await self._write(batch, stage)
                break
            except RETRYABLE:
                await FLUSH.pause(attempt)
            except CONNECTION_ERRORS as exc:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(Unavailable(f"database unavailable: {type(exc).__name__}"))
                return
            except Exception as exc:
                if len(batch) == 1:
                    if not batch[0].future.done():
                        batch[0].future.set_exception(exc)
                    return
                # Isolate the request that fails; the others still commit.
                if stage is not None:
                    stage.release()
                for item in batch:
                    await self._flush([item])
                return
        else:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(Unavailable("write conflicted too often; retry"))
            return
        for item, result in zip(batch, results):
            if not item.future.done():
                item.future.set_result(result)
        elapsed = time.perf_counter() - started
        for observe in self.observers:
            observe(sum(i.size for i in batch), elapsed)
        for project_id, rows in grown.items():
            for note in self.growth_observers:
                note(project_id, rows)

    async def _write(self, batch: list, stage: "_Stage | None" = None) -> tuple[list, dict[uuid.UUID, int]]:
        """Commit the batch: each item's result, and the rows added per project."""
        results: dict[int, object] = {}
        grown: dict[uuid.UUID, int] = {}
        by_project: dict[uuid.UUID, list[tuple[int, object]]] = defaultdict(list)
        for index, item in enumerate(batch):
            by_project[item.project_id].append((index, item))
        created: list[tuple[uuid.UUID, int, dict[str, uuid.UUID]]] = []
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                for project_id in sorted(by_project):
                    grown[project_id] = await self._write_project(
                        conn, project_id, by_project[project_id], results, created)
                if stage is not None:
                    stage.release()  # the COMMIT follows: the next batch may start
        # Committed: the identities it created are rows others may now merge
        # or delete (which grows the generation they are held at).
        for project_id, generation, persons in created:
            self.persons.keep(project_id, generation, persons)
        return [results[i] for i in range(len(batch))], grown

    async def _write_project(self, conn, project_id: uuid.UUID, items: list, results: dict,
                             created_at: list[tuple[uuid.UUID, int, dict[str, uuid.UUID]]]) -> int:
        """Write one project's items; the rows added (events, identities,
        property changes). On Citus, `created_at` gets the identities created
        with their persons and the identity generation, to hold once committed."""
        identities = sorted({ev.identity for _, it in items if isinstance(it, EventWrite) for ev in it.events}
                            | {it.identity for _, it in items if isinstance(it, PropertyWrite)})
        events = [ev for _, it in items if isinstance(it, EventWrite) for ev in it.events]
        # Identities resolved (and created), events inserted: one round trip as a rule.
        resolved = await event_store.resolve_and_insert(conn, event_store.Flush(
            project_id, identities, [person_id_for(project_id, i) for i in identities],
            [e.id for e in events], [e.identity for e in events], [e.name for e in events],
            [e.properties_json for e in events], [e.revenue for e in events], [e.timestamp for e in events],
            [e.received_at for e in events], [e.idempotency_key for e in events],
        ), self.persons)
        person_of, created, inserted = resolved.person_of, resolved.created, resolved.inserted
        if len(person_of) != len(identities):
            # Other transactions kept creating some of them after each of
            # resolve_and_insert's statements: roll back and flush again (RETRYABLE).
            raise IdentityRace()
        added = len(created)
        if events:
            # Each event's stored row, or None for a duplicate, in the order of
            # `events` (one lookup per event: uuid.UUID hashes in Python).
            found = [inserted.get(e.id) for e in events]
            stored = [None if f is None else stored_row(e, f[0], f[1]) for e, f in zip(events, found)]
            missing_keys = [e.idempotency_key for e, row in zip(events, stored) if row is None]
            existing = await event_store.by_idempotency_keys(conn, project_id, missing_keys) if missing_keys else {}
            if len(existing) < len(set(missing_keys)):
                # A duplicate whose stored event this statement does not see:
                # on Citus, the flush that stored it committed on the keys'
                # worker and not yet on its events' one. Flush again (RETRYABLE).
                raise Conflict()
            if missing_keys and created:
                # Identities made for events that all turned out duplicates: not kept.
                used = {e.identity for e, row in zip(events, stored) if row is not None}
                used.update(it.identity for _, it in items if isinstance(it, PropertyWrite))
                unused = created - used
                if unused:
                    await identity_store.forget_unused(conn, project_id, sorted(unused))
                    created = created - unused
            start = 0
            for index, item in items:
                if isinstance(item, EventWrite):
                    end = start + len(item.events)
                    results[index] = [
                        Recorded(row, False) if row is not None else Recorded(existing[e.idempotency_key], True)
                        for e, row in zip(item.events, stored[start:end])
                    ]
                    start = end
            rows = [row for row in stored if row is not None]
            if rows:
                added += len(rows)
                for publish in self.publishers:
                    await publish(conn, project_id, rows)
        if created and resolved.generation is not None:
            created_at.append((project_id, resolved.generation, {i: person_of[i] for i in created}))

        props = [(index, it) for index, it in items if isinstance(it, PropertyWrite)]
        if props:
            person_ids, keys, values, ats = [], [], [], []
            for index, it in props:
                pid = person_of[it.identity]
                results[index] = pid
                for key, value in it.values_json.items():
                    person_ids.append(pid)
                    keys.append(key)
                    values.append(value)
                    ats.append(it.at)
            if keys:
                await people_store.insert_property_changes(conn, project_id, person_ids, keys, values, ats)
                await people_store.refresh_properties(conn, project_id, person_ids)
                added += len(keys)
        return added


def stored_row(event: NormalEvent, seq: int, person_id: uuid.UUID) -> EventRow:
    """The row as stored: the event as validated plus what the database assigned."""
    return EventRow(event.id, seq, event.name, person_id, event.identity, event.properties, event.revenue,
                    event.timestamp, event.received_at)


def json_text(value) -> str:
    return orjson.dumps(value).decode()

"""One live subscriber: its filter and its bounded queue.

The bus offers events without ever waiting; the subscriber's GraphQL stream
takes them at the pace its WebSocket allows. When the queue is full the OLDEST
queued event is dropped and counted; the next event the subscriber takes
carries the number dropped since the one before (reported to the client in
that result's `extensions.live`)."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from typing import Optional

from ..storage.events import EventRow


class Subscriber:
    __slots__ = (
        "project_id", "names", "identity", "person_id", "capacity", "queue", "dropped", "dropped_total",
        "delivered", "closed", "created", "_wakeup",
    )

    def __init__(
        self,
        project_id: uuid.UUID,
        *,
        capacity: int,
        names: Optional[frozenset[str]] = None,
        identity: Optional[str] = None,
        person_id: Optional[uuid.UUID] = None,
    ):
        if capacity < 1:
            raise ValueError("a live queue holds at least one event")
        self.project_id = project_id
        self.names = names
        self.identity = identity
        # The person `identity` resolves to; kept current by the bus (see matches()).
        self.person_id = person_id
        self.capacity = capacity
        self.queue: deque[EventRow] = deque()
        self.dropped = 0          # lost since the last event taken
        self.dropped_total = 0    # lost over the subscription's life
        self.delivered = 0
        self.closed = False
        self.created = time.time()
        self._wakeup = asyncio.Event()

    def matches(self, row: EventRow) -> bool:
        if self.identity is not None:
            if row.identity == self.identity:
                # The writer resolved our identity in this very commit: it is
                # the person the identity belongs to now (after any merge).
                self.person_id = row.person_id
            elif row.person_id != self.person_id:
                return False
        return self.names is None or row.name in self.names

    def offer(self, row: EventRow) -> None:
        """Queue an event; never waits. A full queue loses its oldest event."""
        if self.closed:
            return
        if len(self.queue) >= self.capacity:
            self.queue.popleft()
            self.dropped += 1
            self.dropped_total += 1
        self.queue.append(row)
        self._wakeup.set()

    def forget(self, person_ids: set) -> None:
        """Drop the queued events of deleted people (deletePerson)."""
        if any(row.person_id in person_ids for row in self.queue):
            self.queue = deque(row for row in self.queue if row.person_id not in person_ids)

    def lose(self, count: int) -> None:
        """Events that could not be delivered at all (counted like drops)."""
        if count > 0 and not self.closed:
            self.dropped += count
            self.dropped_total += count

    async def get(self) -> Optional[tuple[EventRow, int]]:
        """The next event and how many were dropped just before it; None once
        the subscriber is closed."""
        while not self.queue:
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.closed:
            return None
        row = self.queue.popleft()
        dropped, self.dropped = self.dropped, 0
        self.delivered += 1
        return row, dropped

    def close(self) -> None:
        self.closed = True
        self.queue.clear()
        self._wakeup.set()

    def describe(self) -> dict:
        return {
            "names": sorted(self.names) if self.names is not None else None,
            "identity": self.identity,
            "personId": str(self.person_id) if self.person_id else None,
            "queued": len(self.queue),
            "capacity": self.capacity,
            "delivered": self.delivered,
            "dropped": self.dropped_total,
        }

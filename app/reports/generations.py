"""The report generation of each project, kept in this process.

Every report's cache key holds its project's report generation
(app/reports/cache.py), which grows in the transaction that removes data a
report may have counted (deletePerson, a retention pass:
app/storage/lifecycle.py). Reading it from the primary before every report
cost a round trip per cached report (docs/benchmarks.md). Here it is read once
and then followed: every bump NOTIFYs on GENERATION_CHANNEL in the
transaction that makes it (so at its commit), and the process's listener
(app/storage/listener.py) hands the notification over.

The value held is served only while it is safe to:

- only while the listener LISTENs, and only a value read or heard since the
  listener last began to LISTEN: when it stops or starts again (a
  notification may have been missed meanwhile) everything held is dropped and
  the next report reads from the primary, as without this class;
- a value read from the primary is kept only if the listener was LISTENing,
  without a break, from before the read began to after it ended: every bump
  committed after the read's snapshot is then notified to this process;
- a notification and a read are merged by taking the larger (a read that
  began before a bump may return after its notification);
- each value is trusted for at most `ttl` seconds, then read again (a bound
  even if a notification were lost);
- the process that removed the data drops its value at once (`forget`).

What remains (docs/decisions.md): another process serves the answer computed
before a removal from the removal's commit until its listener has delivered
the notification (PostgreSQL sends it to the listening session at the commit;
then the local socket and the worker's event loop).
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Callable

import asyncpg

from ..storage.lifecycle import GENERATION_CHANNEL, parse_generation_payload, report_generation
from ..storage.listener import Listener

log = logging.getLogger("whodid.reports.generations")


class Generations:
    def __init__(self, pool: asyncpg.Pool, *, ttl: float = 60.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        # True only while the listener LISTENs (follow); never without one.
        self.listening = False
        # Grows each time the listener starts or stops listening.
        self.epoch = 0
        self._known: dict[uuid.UUID, tuple[int, float]] = {}
        # Reads from the primary and notifications taken (tests, benchmarks).
        self.reads = 0
        self.notified = 0

    def follow(self, listener: Listener) -> None:
        """Follow the generations on `listener` (before it starts)."""
        listener.listen(GENERATION_CHANNEL, self._on_notify, self._on_state)

    def _on_state(self, listening: bool) -> None:
        self.listening = listening
        self.epoch += 1
        self._known.clear()

    def _on_notify(self, payload: str) -> None:
        parsed = parse_generation_payload(payload)
        if parsed is None:
            log.warning("report generation: unreadable notification %r", payload)
            return
        if not self.listening:  # before the listener said it listens: read when asked
            return
        self.notified += 1
        self._keep(*parsed)

    def _keep(self, project_id: uuid.UUID, generation: int) -> int:
        held = self._known.get(project_id)
        if held is not None and held[0] > generation:
            generation = held[0]
        if held is None and len(self._known) >= self.max_entries:
            self._known.clear()
        self._known[project_id] = (generation, self.clock() + self.ttl)
        return generation

    def forget(self, project_id: uuid.UUID) -> None:
        """This process removed data of the project: read its generation again."""
        self._known.pop(project_id, None)

    async def get(self, project_id: uuid.UUID) -> int:
        if self.listening:
            held = self._known.get(project_id)
            if held is not None and held[1] > self.clock():
                return held[0]
        epoch, listening = self.epoch, self.listening
        self.reads += 1
        try:
            value = await report_generation(self.pool, project_id)
        except asyncpg.UndefinedColumnError:  # a database not migrated to 0010 yet
            return 0
        if listening and self.listening and self.epoch == epoch:
            return self._keep(project_id, value)
        return value

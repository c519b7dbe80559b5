"""Retention: each project may keep its events for a number of days
(projects.retention_days, `whodid project set-retention`; none by default).
Every server process runs a RetentionKeeper; one of them at a time (a
PostgreSQL advisory lock) makes a pass every `interval` seconds:

- per project with a retention, the cut-off is now - days;
- its events older than the cut-off are deleted oldest first in batches of
  `batch` rows, each batch a transaction of its own (a DELETE by ctid of rows
  found through the events_ts index), resting between batches as long as the
  last one took (REST_RATIO), so it takes at most about half of a core: row
  locks on those rows only, held for milliseconds, so ingestion (which only
  inserts new rows) and reports (MVCC snapshots) keep running;
- when it deleted anything, the project's report generation is bumped (cached
  answers over the old range are not served again; app/storage/lifecycle.py).

People, identities and property history stay: retention is about events.
A person whose events all expired keeps existing (with no events)."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import asyncpg

from . import lifecycle
from .pool import CONNECTION_ERRORS

log = logging.getLogger("whodid.retention")

RETENTION_LOCK_ID = 0x77686F646964 + 0x10  # beside the migrations lock ("whodid")
PAUSE_SECONDS = 0.01
# After each batch the keeper rests this many times as long as the batch took.
REST_RATIO = 1.0


@dataclass
class PassResult:
    deleted: dict[uuid.UUID, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    ran: bool = True  # False: another process held the lock


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class RetentionKeeper:
    def __init__(self, pool: asyncpg.Pool, *, interval: float = 300.0, batch: int = 2000,
                 pause: float = PAUSE_SECONDS, rest_ratio: float = REST_RATIO, clock: Callable[[], datetime] = now_utc):
        self.pool = pool
        self.interval = interval
        self.batch = batch
        self.pause = pause
        self.rest_ratio = rest_ratio
        self.clock = clock
        self.deleted_total = 0
        # Told (project id) after a pass bumped a project's report generation.
        self.bump_observers: list[Callable[[uuid.UUID], None]] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                result = await self.run_once()
                if result.deleted:
                    log.info("retention removed %d events of %d projects in %d batches, %.1f s",
                             sum(result.deleted.values()), len(result.deleted), result.batches, result.seconds)
            except asyncio.CancelledError:
                raise
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("retention pass failed (%s); next one in %g s", exc, self.interval)
            except Exception:
                log.exception("retention pass failed")

    async def run_once(self) -> PassResult:
        """One pass over every project with a retention (skipped when another
        process is making one)."""
        started = time.perf_counter()
        result = PassResult()
        async with self.pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_ID):
                result.ran = False
                return result
            try:
                for project_id, days in await lifecycle.projects_with_retention(self.pool):
                    cutoff = self.clock() - timedelta(days=days)
                    removed = 0
                    while True:
                        took = time.perf_counter()
                        n = await lifecycle.delete_events_before(self.pool, project_id, cutoff, self.batch)
                        took = time.perf_counter() - took
                        result.batches += 1
                        removed += n
                        if n < self.batch:
                            break
                        # Rest as long as the batch took (times rest_ratio): the
                        # removal never takes more than its share of the machine.
                        await asyncio.sleep(max(self.pause, took * self.rest_ratio))
                    if removed:
                        async with self.pool.acquire() as conn:
                            await lifecycle.bump_generation(conn, project_id)
                        for observe in self.bump_observers:
                            observe(project_id)
                        result.deleted[project_id] = removed
                        self.deleted_total += removed
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_ID)
        result.seconds = time.perf_counter() - started
        return result

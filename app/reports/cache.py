"""The report cache (DESIGN.md §5 Caching).

- Backend: aiocache. SimpleMemoryCache by default (per process); RedisCache when
  REDIS_URL is set, shared by every worker and host. Values are pickled in both,
  so a hit never hands out an object another request holds.
- Key: `<namespace>:<kind>:<project id>:g<generation>:<sha256 of the normalised
  input>`. The project id is always part of it: no entry is shared between
  projects. The generation is the project's report_generation, bumped (and
  NOTIFYed) in the transaction that removes data (app/storage/lifecycle.py)
  and held by each process while its listener follows those notifications,
  else read from the primary (app/reports/generations.py): once a worker has
  heard of a deletePerson, it asks for new keys, so nothing computed before
  it is served.
- TTL: settings.report_ttl seconds (0 or less: nothing is stored, requests are
  still de-duplicated while they run).
- Stampedes: concurrent identical requests compute once. In a process, the first
  request starts the computation as a task and the others await the same task
  (shielded, so a client that goes away does not cancel it for the rest). Across
  processes (Redis only) the computing worker holds a short lock
  (SET <key>:lock NX PX); the others poll for its entry and compute themselves
  only if the lock expires without one (the holder died).
- A cache that fails (Redis down) is logged and bypassed: reports still answer.

An answer is a `Report`: the value, when it was computed, and whether it came
from the cache (false only for the request whose computation produced it).
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Generic, Protocol, TypeVar

from aiocache import SimpleMemoryCache
from aiocache.serializers import PickleSerializer

from ..storage.redis_cache import redis_cache

log = logging.getLogger("whodid.reports.cache")

T = TypeVar("T")

DEFAULT_NAMESPACE = "whodid:report:v1"

_RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Spec(Protocol):
    def cache_key(self) -> str: ...


@dataclass(frozen=True)
class Report(Generic[T]):
    value: T
    computed_at: datetime
    cached: bool


@dataclass(frozen=True)
class _Entry:
    value: Any
    computed_at: datetime


# What a computation returns: the value and when it was computed.
Compute = Callable[[], Awaitable[tuple[Any, datetime]]]


class ReportCache:
    def __init__(
        self,
        *,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        ttl: float = 60,
        lock_seconds: float = 35.0,
        poll_seconds: float = 0.05,
    ):
        self.namespace = namespace
        self.ttl = ttl
        self.lock_seconds = lock_seconds
        self.poll_seconds = poll_seconds
        self.distributed = redis_url is not None
        if redis_url is not None:
            self.backend = redis_cache(redis_url, namespace=namespace)
        else:
            self.backend = SimpleMemoryCache(serializer=PickleSerializer(), namespace=namespace)
        self._inflight: dict[str, asyncio.Task] = {}
        # Counters (also exposed by ReportService).
        self.hits = 0
        self.misses = 0
        self.errors = 0

    # ------------------------------------------------------------ keys

    @staticmethod
    def key(kind: str, project_id: uuid.UUID, spec: Spec, generation: int = 0) -> str:
        """kind + project + the project's report generation + a digest of the
        normalised input (the namespace is added by the backend). The
        generation grows when data is removed (deletePerson, retention:
        app/storage/lifecycle.py): no entry computed before is reached again."""
        digest = hashlib.sha256(spec.cache_key().encode()).hexdigest()[:40]
        return f"{kind}:{project_id}:g{generation}:{digest}"

    # ------------------------------------------------------------ backend, failures tolerated

    async def _get(self, key: str) -> _Entry | None:
        try:
            entry = await self.backend.get(key)
        except Exception as exc:  # Redis down, unreadable entry from another build, ...
            self.errors += 1
            log.warning("report cache read failed key=%s: %r", key, exc)
            return None
        return entry if isinstance(entry, _Entry) else None

    async def _set(self, key: str, entry: _Entry) -> None:
        if self.ttl <= 0:
            return
        ttl: float = int(self.ttl) if float(self.ttl).is_integer() else float(self.ttl)
        try:
            await self.backend.set(key, entry, ttl=ttl)
        except Exception as exc:
            self.errors += 1
            log.warning("report cache write failed key=%s: %r", key, exc)

    async def _lock(self, key: str, token: str) -> bool | None:
        """True: taken; False: someone else holds it; None: Redis is not answering."""
        try:
            taken = await self.backend.client.set(
                self.backend.build_key(key) + ":lock", token, nx=True, px=max(1, int(self.lock_seconds * 1000))
            )
        except Exception as exc:
            self.errors += 1
            log.warning("report cache lock failed key=%s: %r", key, exc)
            return None
        return bool(taken)

    async def _unlock(self, key: str, token: str) -> None:
        try:
            await self.backend.client.eval(_RELEASE_LOCK, 1, self.backend.build_key(key) + ":lock", token)
        except Exception as exc:
            log.warning("report cache unlock failed key=%s: %r", key, exc)

    # ------------------------------------------------------------ the one entry point

    async def get(self, key: str) -> Report | None:
        entry = await self._get(key)
        return None if entry is None else Report(entry.value, entry.computed_at, True)

    async def get_or_compute(self, key: str, compute: Compute) -> Report:
        entry = await self._get(key)
        if entry is not None:
            self.hits += 1
            return Report(entry.value, entry.computed_at, True)
        task = self._inflight.get(key)
        leader = task is None
        if leader:
            task = asyncio.create_task(self._fill(key, compute), name=f"report:{key}")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        else:
            self.hits += 1
        report: Report = await asyncio.shield(task)
        if not leader and not report.cached:
            return Report(report.value, report.computed_at, True)
        return report

    def _forget(self, key: str, task: asyncio.Task) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" noise

    async def _fill(self, key: str, compute: Compute) -> Report:
        token = None
        if self.distributed:
            token = secrets.token_hex(16)
            deadline = time.monotonic() + self.lock_seconds
            while True:
                taken = await self._lock(key, token)
                if taken is None:  # Redis not answering: compute without it
                    token = None
                    break
                if taken:
                    # Double check: the previous holder may have just stored it.
                    entry = await self._get(key)
                    if entry is not None:
                        await self._unlock(key, token)
                        return Report(entry.value, entry.computed_at, True)
                    break
                await asyncio.sleep(self.poll_seconds)
                entry = await self._get(key)
                if entry is not None:
                    return Report(entry.value, entry.computed_at, True)
                if time.monotonic() > deadline:
                    token = None  # the holder is stuck or gone: compute ourselves
                    break
        self.misses += 1
        try:
            value, computed_at = await compute()
            await self._set(key, _Entry(value, computed_at))
        finally:
            if token is not None:
                await self._unlock(key, token)
        return Report(value, computed_at, False)

    async def clear(self) -> None:
        """Drop every entry of this namespace (tests, operators)."""
        await self.backend.clear(namespace=self.namespace)

    async def close(self) -> None:
        try:
            if self.distributed:
                await self.backend.client.aclose()  # RedisCache.close() uses a deprecated call
            else:
                await self.backend.close()
        except Exception as exc:  # closing never fails a shutdown
            log.warning("report cache close failed: %r", exc)

"""The live bus of one process: committed events to `liveEvents` subscribers.

Publishing: the group-commit writer calls `publish` inside each flush's
transaction, once per project, with the rows it inserted. It sends them with
`pg_notify` on one channel (payload format: app/storage/live_wire.py); PostgreSQL
delivers a notification only when, and in the order, transactions commit. So
every process sees exactly the committed events, in commit order, whichever
process wrote them.

Listening: the process's one LISTEN connection (app/storage/listener.py)
listens on the channel. Its callback ignores the payload unless this process
has a subscriber of that project. A payload whose events all travelled inline
(the usual flush), arriving while nothing is queued before it, is delivered
in the callback itself: each event is offered to the matching subscribers'
bounded queues without ever waiting (app/live/queue.py). Anything else is
queued for one dispatcher task, which decodes payloads in order and fetches
the events that travelled by id. (Delivering in the callback saves a turn of
the event loop between commit and subscriber, which under ingestion is where
the latency's tail came from: docs/benchmarks.md, live.)

Reconnecting: when the listener's connection is lost it reconnects with
exponential backoff, and the bus then catches up: events received since
shortly before the lost connection was last known to be alive are read back
from the events table and delivered, minus the ones already delivered.
Subscribers keep their subscriptions throughout."""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict, deque
from datetime import datetime, timedelta, timezone
from typing import Optional

import asyncpg

from ..storage.person_ids import person_id_for
from ..storage.events import EventRepository, EventRow
from ..storage.listener import Listener
from ..storage import live_wire as wire
from . import store
from .queue import Subscriber

log = logging.getLogger("whodid.live")

try:  # the whodid_live_subscribers gauge of /metrics (summed over workers)
    from ..metrics import LIVE_SUBSCRIBERS as _LIVE_SUBSCRIBERS
except ImportError:  # pragma: no cover
    _LIVE_SUBSCRIBERS = None

# Payloads waiting for the dispatcher; beyond this (the database too slow to
# fetch by id for a long time) the oldest are dropped and counted as lost.
INBOX_MAX = 10_000
# Ids of recently delivered events per project, to skip them in a catch-up.
RECENT_IDS = 4096
# A catch-up reads events received this long before the connection was last
# known alive, and (for the index range) timestamped within CATCHUP_TS_WINDOW.
CATCHUP_MARGIN = timedelta(seconds=5)
CATCHUP_TS_WINDOW = timedelta(minutes=10)

_CATCH_UP = object()


class LiveBus:
    def __init__(
        self,
        listener: Listener,
        pool: asyncpg.Pool,
        events: EventRepository,
        *,
        queue_size: int = 1000,
        channel: str = wire.CHANNEL,
        identity_refresh: float = 2.0,
    ):
        self.listener = listener
        self.pool = pool
        self.events = events
        self.queue_size = queue_size
        self.channel = channel
        self._identity_refresh = identity_refresh
        self._identity_refresh_changed = asyncio.Event()
        self.catchup_margin = CATCHUP_MARGIN
        listener.listen(channel, self._on_notify, self._on_listening)

        self._subs: dict[uuid.UUID, set[Subscriber]] = {}
        self._by_hex: dict[str, uuid.UUID] = {}
        self._recent: dict[uuid.UUID, OrderedDict] = {}
        self._inbox: deque = deque()
        self._inbox_ready = asyncio.Event()
        self._dispatching = False  # the dispatcher holds an item (maybe awaiting a fetch)
        # When the lost connection was last known alive: a catch-up starts there.
        self._alive_before_loss: Optional[datetime] = None
        self._tasks: list[asyncio.Task] = []
        self._closed = False
        self.stats = {
            "published": 0, "notifications": 0, "ignored": 0, "dispatched": 0, "fetched": 0,
            "reconnects": 0, "catchups": 0, "caught_up": 0, "overflows": 0,
        }

    @property
    def identity_refresh(self) -> float:
        """Seconds between two re-resolutions of the watched identities."""
        return self._identity_refresh

    @identity_refresh.setter
    def identity_refresh(self, seconds: float) -> None:
        # The refresh loop may be asleep for the old interval (an hour, say):
        # wake it, so that the new one counts from now and not after that.
        self._identity_refresh = seconds
        self._identity_refresh_changed.set()

    # ---- lifecycle ----

    def start(self) -> None:
        """Start dispatching (the listener, started by its owner, delivers)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="live-dispatch"),
            asyncio.create_task(self._refresh_loop(), name="live-identities"),
        ]

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()
        self._subs.clear()
        self._by_hex.clear()
        self._recent.clear()
        self._observe()

    def going_away(self) -> None:
        """The server is shutting down: every subscription ends now (its
        generator returns, the client gets `complete`) and new ones end at once
        (app/live/goingaway.py). Dispatching stops in close()."""
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    @property
    def listening(self) -> bool:
        return self.listener.listening

    async def wait_listening(self, timeout: float) -> bool:
        return await self.listener.wait_listening(timeout)

    # ---- publishing (called by the writer inside its transaction) ----

    async def publish(self, conn: asyncpg.Connection, project_id: uuid.UUID, rows: list[EventRow]) -> None:
        try:
            payloads = wire.encode(project_id, rows)
        except Exception:  # never fail the writer's commit for the live view
            log.exception("live: could not encode %d events; subscribers miss them", len(rows))
            return
        if not payloads:
            return
        if len(payloads) == 1:
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, payloads[0])
        else:
            await conn.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
                self.channel, payloads,
            )
        self.stats["published"] += len(payloads)

    # ---- subscribers ----

    async def subscribe(
        self, project_id: uuid.UUID, *, names: Optional[list[str]] = None, identity: Optional[str] = None,
        capacity: Optional[int] = None,
    ) -> Subscriber:
        person_id = None
        if identity is not None:
            resolved = await store.resolve_identities(self.pool, project_id, [identity])
            # Unknown yet: the person the identity will get when it first appears.
            person_id = resolved.get(identity) or person_id_for(project_id, identity)
        sub = Subscriber(
            project_id, capacity=capacity or self.queue_size,
            names=frozenset(names) if names is not None else None, identity=identity, person_id=person_id,
        )
        if self._closed:
            sub.close()
            return sub
        self._subs.setdefault(project_id, set()).add(sub)
        self._by_hex[project_id.hex] = project_id
        self._recent.setdefault(project_id, OrderedDict())
        self._observe()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.close()
        subs = self._subs.get(sub.project_id)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.project_id]
            self._by_hex.pop(sub.project_id.hex, None)
            self._recent.pop(sub.project_id, None)
        self._observe()

    def _observe(self) -> None:
        if _LIVE_SUBSCRIBERS is not None:
            _LIVE_SUBSCRIBERS.set(self.subscriber_count())

    def subscriber_count(self, project_id: Optional[uuid.UUID] = None) -> int:
        if project_id is not None:
            return len(self._subs.get(project_id, ()))
        return sum(len(s) for s in self._subs.values())

    def subscribers(self, project_id: uuid.UUID) -> list[Subscriber]:
        return list(self._subs.get(project_id, ()))

    def describe(self, project_id: uuid.UUID) -> dict:
        """This process's view for one project (GET /live/stats)."""
        return {
            "listening": self.listening,
            "reconnects": self.stats["reconnects"],
            "inbox": len(self._inbox),
            "subscribers": [s.describe() for s in self.subscribers(project_id)],
        }

    # ---- listening ----

    def _on_listening(self, listening: bool) -> None:
        if not listening:
            self._alive_before_loss = self.listener.alive_at
            return
        if self.listener.connects > 1:
            self.stats["reconnects"] += 1
            # Before anything that arrives on the new connection.
            self._inbox.appendleft(_CATCH_UP)
            self._inbox_ready.set()

    def _on_notify(self, payload: str) -> None:
        self.stats["notifications"] += 1
        project_id = self._by_hex.get(wire.project_hex(payload))
        if project_id is None:
            self.stats["ignored"] += 1
            return
        if not self._inbox and not self._dispatching and not self._closed and not wire.is_forget(payload):
            try:
                _, entries = wire.decode(payload)
            except Exception:
                entries = None  # the dispatcher decodes it again, and logs why
            if entries is not None and not any(isinstance(e, uuid.UUID) for e in entries):
                try:
                    self._deliver(project_id, entries)  # type: ignore[arg-type]  # no ids among them: all rows
                except Exception:
                    log.exception("live: dispatch failed")
                return
        if len(self._inbox) >= INBOX_MAX:
            self._overflow()
        self._inbox.append((project_id, payload))
        self._inbox_ready.set()

    def _overflow(self) -> None:
        """The inbox is full: lose its oldest payload, counted as drops."""
        self.stats["overflows"] += 1
        for index, item in enumerate(self._inbox):
            # A deletion's notice is never the one lost: it keeps a deleted
            # person's queued events from being delivered.
            if item is not _CATCH_UP and not wire.is_forget(item[1]):
                del self._inbox[index]
                break
        else:
            return
        project_id, payload = item
        try:
            lost = len(wire.decode(payload)[1])
        except Exception:
            lost = 1
        for sub in self._subs.get(project_id, ()):
            sub.lose(lost)

    # ---- dispatching ----

    async def _dispatch_loop(self) -> None:
        while True:
            if not self._inbox:
                self._inbox_ready.clear()
                await self._inbox_ready.wait()
                continue
            item = self._inbox.popleft()
            self._dispatching = True
            try:
                if item is _CATCH_UP:
                    await self._catch_up()
                else:
                    await self._dispatch(*item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live: dispatch failed")
            finally:
                self._dispatching = False

    async def _dispatch(self, project_id: uuid.UUID, payload: str) -> None:
        if wire.is_forget(payload):
            self._forget(project_id, payload)
            return
        _, entries = wire.decode(payload)
        missing = [e for e in entries if isinstance(e, uuid.UUID)]
        if missing:
            try:
                fetched = {r.id: r for r in await self.events.by_ids(project_id, missing)}
            except Exception as exc:
                log.warning("live: could not fetch %d events (%s); counted as dropped", len(missing), exc)
                fetched = {}
                for sub in self._subs.get(project_id, ()):
                    sub.lose(len(missing))
            self.stats["fetched"] += len(fetched)
            rows = [fetched.get(e) if isinstance(e, uuid.UUID) else e for e in entries]
            self._deliver(project_id, [r for r in rows if r is not None])
        else:
            self._deliver(project_id, entries)  # type: ignore[arg-type]  # no ids among them: all rows

    def _forget(self, project_id: uuid.UUID, payload: str) -> None:
        """People were deleted (app/storage/lifecycle.py, sent in the deleting
        transaction, so after every event of theirs that committed before):
        their events still queued are not delivered."""
        gone = wire.decode_forget(payload)
        self.stats["forgotten"] = self.stats.get("forgotten", 0) + len(gone)
        for sub in self._subs.get(project_id, ()):
            sub.forget(gone)

    def _deliver(self, project_id: uuid.UUID, rows: list[EventRow], *, catch_up: bool = False) -> None:
        subs = self._subs.get(project_id)
        if not subs:
            return
        recent = self._recent.setdefault(project_id, OrderedDict())
        for row in rows:
            if row.id in recent:
                continue
            recent[row.id] = None
            if len(recent) > RECENT_IDS:
                recent.popitem(last=False)
            self.stats["dispatched"] += 1
            for sub in subs:
                if catch_up and row.received_at.timestamp() < sub.created - 1:
                    continue  # committed before this subscriber existed
                if sub.matches(row):
                    sub.offer(row)

    async def _catch_up(self) -> None:
        """After a reconnect: deliver what committed while nobody listened."""
        alive = self._alive_before_loss or datetime.now(timezone.utc)
        self.stats["catchups"] += 1
        for project_id in list(self._subs):
            subs = self._subs.get(project_id)
            if not subs:
                continue
            limit = max(s.capacity for s in subs)
            try:
                ids = await store.recent_event_ids(
                    self.pool, project_id, ts_since=alive - CATCHUP_TS_WINDOW,
                    received_since=alive - self.catchup_margin, limit=limit,
                )
                recent: dict = self._recent.get(project_id, {})
                ids = [i for i in ids if i not in recent]
                rows = await self.events.by_ids(project_id, ids) if ids else []
            except Exception as exc:
                log.warning("live: catch-up of a project failed (%s)", exc)
                continue
            self.stats["caught_up"] += len(rows)
            self._deliver(project_id, rows, catch_up=True)

    # ---- identity subscriptions follow merges ----

    async def _refresh_loop(self) -> None:
        """Re-resolve the identities of identity-filtered subscriptions every
        few seconds, so that a subscription follows its identity into a merge
        even before that identity sends an event itself (which re-anchors it
        at once: Subscriber.matches)."""
        while True:
            self._identity_refresh_changed.clear()
            try:
                await asyncio.wait_for(self._identity_refresh_changed.wait(), self._identity_refresh)
                continue  # the interval changed: sleep the new one from now
            except asyncio.TimeoutError:
                pass
            for project_id, subs in list(self._subs.items()):
                watched = {s.identity for s in subs if s.identity is not None}
                if not watched:
                    continue
                try:
                    resolved = await store.resolve_identities(self.pool, project_id, sorted(watched))
                except Exception:
                    continue  # the database is away; try again next round
                for sub in list(subs):
                    if sub.identity in resolved:
                        sub.person_id = resolved[sub.identity]


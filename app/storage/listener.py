"""The one LISTEN connection of a process, shared by everything that listens
(the live bus on the events channel, the key cache on the keys channel).

It is a dedicated connection, not a pool connection (LISTEN is session state,
and the pool resets its connections). It is watched — a termination callback,
and a health-check query every `health_interval` seconds — and re-established
with exponential backoff. Each channel has a notification handler and a state
handler: the state handler is told `True` once the connection LISTENs on every
channel, and `False` as soon as it may have stopped, because a notification may
be missed while nobody listens (the key cache stops serving, the live bus
catches up after the reconnect)."""
from __future__ import annotations

import asyncio
import functools
import logging
import random
from datetime import datetime, timezone
from typing import Awaitable, Callable, Optional

import asyncpg

log = logging.getLogger("whodid.listener")

Connect = Callable[[], Awaitable[asyncpg.Connection]]
OnNotify = Callable[[str], None]  # the payload
OnState = Callable[[bool], None]  # listening now?

# The health check's text: recognisable in pg_stat_activity (tests, operators).
HEALTH_CHECK = "SELECT 1 -- whodid listener"


def pool_connector(pool: asyncpg.Pool) -> Connect:
    """A connect function with the same arguments as the pool's connections."""
    # asyncpg keeps the pool's connect arguments in these (private) attributes.
    if not hasattr(pool, "_connect_args") or not hasattr(pool, "_connect_kwargs"):
        raise RuntimeError("this asyncpg version hides the pool's connect arguments: pass a connect function")
    args = list(pool._connect_args)
    kwargs = dict(pool._connect_kwargs)

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(*args, **kwargs)

    return connect


class Listener:
    def __init__(self, connect: Connect, *, health_interval: float = 5.0, min_backoff: float = 0.05,
                 max_backoff: float = 5.0):
        self._connect = connect
        self.health_interval = health_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._channels: dict[str, tuple[OnNotify, Optional[OnState]]] = {}
        self._listening = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._closed = False
        self.connection: Optional[asyncpg.Connection] = None
        # Connections established so far (more than one: it reconnected).
        self.connects = 0
        # When the connection was last known to LISTEN (connected, answered the
        # health check, or delivered a notification).
        self.alive_at: Optional[datetime] = None

    def listen(self, channel: str, on_notify: OnNotify, on_state: Optional[OnState] = None) -> None:
        """Register a channel; before start()."""
        if self._task is not None:
            raise RuntimeError("register every channel before the listener starts")
        self._channels[channel] = (on_notify, on_state)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def wait_listening(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._listening.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def start(self, wait: float = 5.0) -> None:
        """Start listening; waits up to `wait` seconds for the first LISTEN (a
        database that is down only delays it: the listener keeps trying)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="listener")
        if not await self.wait_listening(wait):
            log.warning("listener: not listening yet (database unreachable?); retrying in the background")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._set_listening(False)

    def _set_listening(self, value: bool) -> None:
        if value == self.listening:
            return
        if value:
            self._listening.set()
        else:
            self._listening.clear()
        for _, on_state in self._channels.values():
            if on_state is not None:
                on_state(value)

    def _handler(self, on_notify: OnNotify):
        def notified(conn, pid, channel, payload: str) -> None:
            self.alive_at = datetime.now(timezone.utc)
            on_notify(payload)

        return notified

    def _on_lost(self, lost: asyncio.Event, _conn: object) -> None:
        # Bound to this connection's own `lost`: a late termination of an old
        # connection must not end the watch of the next one.
        self._set_listening(False)
        lost.set()

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            conn = None
            lost = asyncio.Event()
            try:
                conn = await asyncio.wait_for(self._connect(), timeout=10)
                conn.add_termination_listener(functools.partial(self._on_lost, lost))
                for channel, (on_notify, _) in self._channels.items():
                    await conn.add_listener(channel, self._handler(on_notify))
                self.connection = conn
                self.connects += 1
                self.alive_at = datetime.now(timezone.utc)
                if self.connects > 1:
                    log.info("listener: listening again")
                self._set_listening(True)
                failures = 0
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.health_interval)
                    except asyncio.TimeoutError:
                        await conn.fetchval(HEALTH_CHECK, timeout=5)
                        self.alive_at = datetime.now(timezone.utc)
                log.warning("listener: the LISTEN connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: stop listening, reconnect
                if failures == 0:
                    log.warning("listener: LISTEN connection failed (%s: %s); reconnecting", type(exc).__name__, exc)
            finally:
                self._set_listening(False)
                self.connection = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if self._closed:
                return
            delay = min(self.min_backoff * (2 ** failures), self.max_backoff)
            failures += 1
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))

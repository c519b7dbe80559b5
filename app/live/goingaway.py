"""A graceful shutdown that a subscriber can tell from a crash.

uvicorn's shutdown closes every open WebSocket at once with 1012 and no
GraphQL message. Before it does, whodid now:

1. closes every live subscription of the process (LiveBus.going_away): each
   subscription's generator ends, so Strawberry sends `complete` for it
   (graphql-transport-ws; `complete` in graphql-ws too);
2. waits (at most DRAIN_SECONDS) until every subscription a connection
   started has been completed on the wire;
3. closes each connection with 1001 "going away" (RFC 6455: the server is
   going down), the close a client reconnects after;

and only then lets uvicorn's own shutdown run (writer drained, pool closed).

The hook: `install()` wraps uvicorn.Server.shutdown once per process, so it
applies however the server runs (`whodid serve`, its worker processes,
tests' in-process servers); `GoingAway` is the ASGI wrapper that tracks the
open WebSockets of one app and which subscriptions each has open (it reads
the client's few frames, and its own only while draining)."""
from __future__ import annotations

import asyncio
import logging

import orjson

log = logging.getLogger("whodid.live")

DRAIN_SECONDS = 2.0
GOING_AWAY = 1001

_INSTALLED = False


class _Connection:
    __slots__ = ("send", "open_ids", "closed", "bus")

    def __init__(self, send, bus):
        self.send = send
        self.open_ids: set[str] = set()
        self.closed = False
        self.bus = bus


def _frame(message: dict) -> dict | None:
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = message["bytes"]
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class GoingAway:
    def __init__(self, app):
        self.app = app
        self.connections: set[_Connection] = set()
        self.draining = False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        services = (scope.get("state") or {}).get("services")
        connection = _Connection(send, getattr(services, "live", None))
        self.connections.add(connection)

        async def tracked_receive():
            message = await receive()
            if message.get("type") == "websocket.receive":
                frame = _frame(message)
                if frame is not None and isinstance(frame.get("id"), str):
                    if frame.get("type") in ("subscribe", "start"):
                        connection.open_ids.add(frame["id"])
                    elif frame.get("type") in ("complete", "stop"):
                        connection.open_ids.discard(frame["id"])
            return message

        async def tracked_send(message):
            if connection.closed:
                if message.get("type") == "websocket.close":
                    return  # closed already (1001): Strawberry's own close after it is moot
                if message.get("type") == "websocket.send":
                    return
            if self.draining and message.get("type") == "websocket.send":
                frame = _frame(message)
                if frame is not None and frame.get("type") in ("complete", "error"):
                    connection.open_ids.discard(frame.get("id"))
            if message.get("type") == "websocket.close":
                connection.closed = True
            await send(message)

        try:
            await self.app(scope, tracked_receive, tracked_send)
        finally:
            self.connections.discard(connection)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        self.draining = True
        buses = {id(c.bus): c.bus for c in self.connections if c.bus is not None}
        for bus in buses.values():
            bus.going_away()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while any(c.open_ids and not c.closed for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            if connection.closed:
                continue
            connection.closed = True
            try:
                await connection.send({"type": "websocket.close", "code": GOING_AWAY, "reason": "going away"})
            except Exception:  # the client went first
                pass
        if self.connections:
            await asyncio.sleep(0.05)  # the close frames leave before uvicorn closes the transports


def _of(app) -> "GoingAway | None":
    """The GoingAway inside an app (uvicorn's and whodid's wrappers keep the
    wrapped app as `.app`)."""
    for _ in range(20):
        if app is None or isinstance(app, GoingAway):
            return app
        app = getattr(app, "app", None)
    return None


async def drain_server(server, seconds: float = DRAIN_SECONDS) -> None:
    going = _of(getattr(server.config, "loaded_app", None))
    if going is not None:
        await going.drain(seconds)


def install() -> None:
    """Drain the server's app (when it has a GoingAway) before uvicorn's
    shutdown, in every uvicorn.Server of the process."""
    global _INSTALLED
    if _INSTALLED:
        return
    import uvicorn.server

    original = uvicorn.server.Server.shutdown

    async def shutdown(self, sockets=None):
        try:
            await drain_server(self)
        except Exception:  # never block the shutdown itself
            log.exception("closing live subscriptions before shutdown failed")
        return await original(self, sockets)

    uvicorn.server.Server.shutdown = shutdown  # type: ignore[method-assign]  # the patch is the point
    _INSTALLED = True

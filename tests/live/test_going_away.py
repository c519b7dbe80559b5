"""A graceful shutdown (SIGTERM) completes every open subscription and then
closes the WebSocket with 1001 "going away": a client can tell it from a
crash (no `complete`, 1006). A real `whodid serve` and a real client."""
from __future__ import annotations

import asyncio
import json
import os
import signal

import websockets

from tests.support.live import LEGACY_WS, TRANSPORT_WS, LiveClient, ServerProcess, record


async def _messages_until_closed(client: LiveClient, timeout: float = 15.0) -> tuple[list[dict], int, str]:
    seen = []
    try:
        while True:
            raw = await asyncio.wait_for(client.ws.recv(), timeout)
            message = json.loads(raw)
            if message.get("type") in ("ping", "ka"):
                continue
            seen.append(message)
    except websockets.ConnectionClosed as exc:
        return seen, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else ""


async def test_sigterm_completes_subscriptions_then_closes_going_away(database_url, services):
    keys = await services.auth.create_project("going-away-" + os.urandom(3).hex())
    server = ServerProcess(database_url)
    try:
        await server.ready()
        modern = await LiveClient.connect(server.url, keys.read_key, protocol=TRANSPORT_WS)
        legacy = await LiveClient.connect(server.url, keys.read_key, protocol=LEGACY_WS)
        first = await modern.subscribe()
        second = await modern.subscribe({"names": ["Other"]})
        legacy_id = await legacy.subscribe()
        modern.current = first
        await asyncio.sleep(0.3)
        await record(server.url, keys.write_key, "someone", "Hello")
        assert (await modern.next_event())["name"] == "Hello"
        assert (await legacy.next_event())["name"] == "Hello"

        os.kill(server.proc.pid, signal.SIGTERM)
        (seen, code, reason), (legacy_seen, legacy_code, legacy_reason) = await asyncio.gather(
            _messages_until_closed(modern), _messages_until_closed(legacy))
        assert sorted(m["id"] for m in seen if m["type"] == "complete") == sorted([first, second]), seen
        assert (code, reason) == (1001, "going away")
        assert [m["id"] for m in legacy_seen if m["type"] == "complete"] == [legacy_id], legacy_seen
        assert (legacy_code, legacy_reason) == (1001, "going away")
        assert server.proc.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    finally:
        server.stop()


async def test_a_syntax_error_over_websocket_has_the_parse_code(live_server):
    services = live_server.services
    keys = await services.auth.create_project("ws-syntax-" + os.urandom(3).hex())
    client = await LiveClient.connect(live_server.url, keys.read_key)
    try:
        await client.subscribe(query="subscription { liveEvents { ")
        raw = json.loads(await asyncio.wait_for(client.ws.recv(), 10))
        assert raw["type"] == "error", raw
        assert [e["extensions"]["code"] for e in raw["payload"]] == ["GRAPHQL_PARSE_FAILED"], raw
    finally:
        await client.close()

"""The live direct path (app/graphql/subscription.py): over a real WebSocket,
a subscription's events after the first are sent as frames built from the
shared `data` text, and those frames are byte for byte what Strawberry's own
path sends, drops' extensions included, in both protocols."""
from __future__ import annotations

import asyncio
import json

import pytest

from app.graphql import subscription as live
from tests.support.live import LEGACY_WS, RECORD_EVENTS, TRANSPORT_WS, LiveClient, eventually, gql, record
from tests.support.server import make_project


@pytest.fixture
async def keys(live_server):
    return await make_project(live_server.services, "direct")


async def raw_frames(client: LiveClient, count: int) -> list[str]:
    """The next `count` result frames of the client's operation, as received."""
    out: list[str] = []
    while len(out) < count:
        raw = await asyncio.wait_for(client.ws.recv(), 10)
        message = json.loads(raw)
        if message.get("type") == "ping":
            await client.ws.send(json.dumps({"type": "pong"}))
        elif message.get("id") == client.current and message.get("type") in ("next", "data"):
            out.append(raw)
        elif message.get("id") == client.current:
            raise AssertionError(f"unexpected {raw}")
    return out


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_direct_frames_are_the_bytes_strawberry_sends(live_server, keys, protocol, monkeypatch):
    bus = live_server.bus
    sent_directly = []
    original = live.LiveSink.send

    async def spy(self, data_text, dropped, dropped_total):
        sent_directly.append(self.prefix)
        await original(self, data_text, dropped, dropped_total)

    monkeypatch.setattr(live.LiveSink, "send", spy)
    query = ('subscription($where: LiveEventFilter) { liveEvents(where: $where) '
             '{ __typename id name personId identity props: properties revenue timestamp receivedAt } }')
    size, bus.queue_size = bus.queue_size, 5
    clients = []
    try:
        monkeypatch.setattr(live, "DIRECT_FRAMES", False)
        plain = await LiveClient.connect(live_server.url, keys.read_key, protocol=protocol)
        clients.append(plain)
        await plain.subscribe(query=query)
        await eventually(lambda: bus.subscriber_count(keys.id) == 1)
        monkeypatch.setattr(live, "DIRECT_FRAMES", True)
        direct = await LiveClient.connect(live_server.url, keys.read_key, protocol=protocol)
        clients.append(direct)
        await direct.subscribe(query=query)
        await eventually(lambda: bus.subscriber_count(keys.id) == 2)
        bus.queue_size = size

        await record(live_server.url, keys.write_key, "first", "First", {"n": 1})
        first = [await raw_frames(c, 1) for c in clients]
        assert first[0] == first[1] and not sent_directly  # the first event: Strawberry's path for both

        # One commit of 20 events reaches both 5-event queues at once: 15
        # dropped, reported in the extensions of the next frame.
        batch = [{"identity": f"p-{i % 3}", "name": "Burst ✓", "properties": {
            "i": i, "text": "é \"quoted\" \\ \u2028", "nested": {"a": [1, 2.5, None, True]},
            **({"Revenue": "12.50"} if i % 2 else {})}} for i in range(20)]
        await gql(live_server.url, keys.write_key, RECORD_EVENTS, {"input": batch})
        plain_frames, direct_frames = await raw_frames(plain, 5), await raw_frames(direct, 5)
        assert direct_frames == plain_frames
        assert len(sent_directly) == 5 and all(p.find(direct.current) > 0 for p in sent_directly)
        payloads = [json.loads(f)["payload"] for f in direct_frames]
        assert payloads[0]["extensions"] == {"live": {"dropped": 15, "droppedTotal": 15}}
        assert [p["data"]["liveEvents"]["props"]["i"] for p in payloads] == [15, 16, 17, 18, 19]
        assert all("extensions" not in p for p in payloads[1:])
    finally:
        bus.queue_size = size
        for c in clients:
            await c.close()

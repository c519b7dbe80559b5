"""A subscriber that stops reading while 10,000 events are ingested: ingestion
completes, its queue stays bounded (the oldest events are dropped and
counted), the server's memory stays bounded, a reading subscriber is not held
back, and once the stalled one reads again it is told what it lost."""
from __future__ import annotations

import asyncio
import socket

import httpx

from tests.support.server import make_project
from tests.support.live import RECORD_EVENTS, LiveClient, eventually, gql, start_servers, stats

TOTAL = 10_000
BATCH = 500
QUEUE = 1000


def _tiny_receive_buffer_socket(port: int) -> socket.socket:
    """A connected socket whose receive buffer is small (set before connect,
    so the kernel does not grow it): a client that stops reading stalls the
    server's sends quickly instead of parking megabytes in kernel buffers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _drain(client: LiveClient, expected_total: int) -> tuple[int, int, list[int]]:
    """Read until every event is accounted for: (received, dropped reported, order)."""
    received, dropped, order = 0, 0, []
    while received + dropped < expected_total:
        payload = await client.next_payload(timeout=20)
        received += 1
        dropped += ((payload.get("extensions") or {}).get("live") or {}).get("dropped", 0)
        order.append(payload["data"]["liveEvents"]["properties"]["i"])
    return received, dropped, order


async def test_a_stalled_subscriber_is_bounded_and_told_what_it_lost(database_url, services):
    (server,) = await start_servers(database_url, 1, env={"WHODID_LIVE_QUEUE": str(QUEUE)})
    keys = await make_project(services, "slow")
    stalled = reader = None
    try:
        port = int(server.url.rsplit(":", 1)[1])
        stalled = await LiveClient.connect(
            # No permessage-deflate: the flood compresses so well that the
            # kernel buffers would otherwise hold all of it.
            server.url, keys.read_key, sock=_tiny_receive_buffer_socket(port), max_queue=1, compression=None,
        )
        await stalled.subscribe()
        reader = await LiveClient.connect(server.url, keys.read_key)
        await reader.subscribe()
        await eventually(lambda: _subscribers(server.url, keys.read_key, 2))
        rss_before = server.rss_kib()

        async def ingest() -> int:
            accepted = 0
            async with httpx.AsyncClient(timeout=60) as http:
                for start in range(0, TOTAL, BATCH):
                    batch = [{"identity": f"u{i % 50}", "name": "Flood", "properties": {"i": i, "pad": "p" * 64}}
                             for i in range(start, start + BATCH)]
                    data = await gql(server.url, keys.write_key, RECORD_EVENTS, {"input": batch}, client=http)
                    accepted += data["recordEvents"]["accepted"]
            return accepted

        # The reader keeps reading while the flood comes in; the stalled one never reads.
        reading = asyncio.create_task(_drain(reader, TOTAL))
        assert await ingest() == TOTAL
        received, dropped, order = await reading
        assert received + dropped == TOTAL
        assert order == sorted(order)  # commit order, gaps only where drops were reported

        def settled(view):
            # The stalled subscriber is the one that has taken the fewest events.
            s = min(view["subscribers"], key=lambda s: s["delivered"])
            return s if s["delivered"] + s["queued"] + s["dropped"] == TOTAL else None

        stalled_view = await eventually(lambda: _find(server.url, keys.read_key, settled))
        assert stalled_view["queued"] <= QUEUE == stalled_view["capacity"]
        assert stalled_view["dropped"] > 0
        rss_after = server.rss_kib()
        assert rss_after - rss_before < 150 * 1024, (rss_before, rss_after)

        # Reading again: what is left arrives, and the first event after the
        # gap reports exactly the events dropped.
        received, dropped, order = await _drain(stalled, TOTAL)
        assert dropped == stalled_view["dropped"]
        assert received == TOTAL - dropped
        assert order == sorted(order) and order[-1] == TOTAL - 1
    finally:
        for client in (stalled, reader):
            if client is not None:
                client.ws.transport.abort()
        server.stop()


async def _subscribers(url: str, read_key: str, count: int) -> bool:
    return len((await stats(url, read_key))["subscribers"]) == count


async def _find(url: str, read_key: str, pick):
    return pick(await stats(url, read_key))

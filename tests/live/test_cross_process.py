"""Fan-out across processes: two independent servers on two ports (one
database) and `whodid serve --workers 2`. An event ingested through any
process reaches subscribers in every process, in commit order."""
from __future__ import annotations

import asyncio

import httpx

from tests.support.server import make_project
from tests.support.live import RECORD_EVENTS, LiveClient, Refused, eventually, gql, record, start_servers, stats


async def _subscribed(url: str, read_key: str, count: int = 1) -> None:
    await eventually(lambda: _count(url, read_key, count))


async def _count(url: str, read_key: str, count: int) -> bool:
    return len((await stats(url, read_key))["subscribers"]) >= count


async def test_events_cross_between_two_servers_in_commit_order(two_servers, services):
    a, b = two_servers
    keys = await make_project(services, "xproc")
    on_a = await LiveClient.connect(a, keys.read_key)
    on_b = await LiveClient.connect(b, keys.read_key)
    filtered_on_b = await LiveClient.connect(b, keys.read_key)
    try:
        await on_a.subscribe()
        await on_b.subscribe()
        await filtered_on_b.subscribe({"names": ["Odd"]})
        await _subscribed(a, keys.read_key, 1)
        await _subscribed(b, keys.read_key, 2)

        sent = []
        for i in range(12):
            through = a if i % 3 else b  # both servers ingest
            name = "Odd" if i % 2 else "Even"
            sent.append(await record(through, keys.write_key, f"user-{i % 4}", name, {"i": i}))
        assert await on_a.events(12) == sent
        assert await on_b.events(12) == sent
        assert await filtered_on_b.events(6) == [e for e in sent if e["name"] == "Odd"]

        # A batch through B is one commit: it arrives whole, in order, on A.
        batch = [{"identity": "batch", "name": "Batch", "properties": {"i": i}} for i in range(40)]
        await gql(b, keys.write_key, RECORD_EVENTS, {"input": batch})
        assert [e["properties"]["i"] for e in await on_a.events(40)] == list(range(40))
    finally:
        for c in (on_a, on_b, filtered_on_b):
            await c.close()


async def test_another_projects_subscriber_on_the_other_server_sees_nothing(two_servers, services):
    a, b = two_servers
    project_a = await make_project(services, "xa")
    project_b = await make_project(services, "xb")
    watcher_b = await LiveClient.connect(b, project_b.read_key)
    try:
        await watcher_b.subscribe()
        await _subscribed(b, project_b.read_key)
        for i in range(5):
            await record(a, project_a.write_key, "a-user", "Private To A", {"i": i})
        sentinel = await record(a, project_b.write_key, "b-user", "For B")
        assert await watcher_b.next_event() == sentinel
        await watcher_b.nothing_within(0.3)
    finally:
        await watcher_b.close()


async def test_keys_are_checked_on_every_server(two_servers, services):
    keys = await make_project(services, "xkeys")
    for url in two_servers:
        for key in (keys.write_key, "rk_wrong"):
            try:
                await LiveClient.connect(url, key)
            except Refused as refused:
                assert refused.code == 4403
            else:
                raise AssertionError("connection accepted")


async def test_two_workers_fan_out_to_each_other(database_url, services):
    (server,) = await start_servers(database_url, 1, workers=2)
    clients: list[LiveClient] = []
    try:
        keys = await make_project(services, "workers")
        # Connections land on either worker; keep opening subscribers until
        # both workers hold some (as /live/stats, answered by either, shows).
        pids: dict[int, int] = {}
        for _ in range(24):
            client = await LiveClient.connect(server.url, keys.read_key)
            await client.subscribe()
            clients.append(client)
            seen = await stats(server.url, keys.read_key)
            pids[seen["pid"]] = len(seen["subscribers"])
            if len(clients) >= 4 and len([p for p, n in pids.items() if n]) >= 2:
                break
        await eventually(lambda: _total_subscribers(server.url, keys.read_key, len(clients)), timeout=20)

        sent = []
        for i in range(20):
            # A fresh connection per event: the kernel hands them to both workers.
            async with httpx.AsyncClient(timeout=10) as fresh:
                sent.append(await record(server.url, keys.write_key, f"w-{i % 3}", "Tick", {"i": i}, client=fresh))
        for client in clients:
            assert await client.events(20) == sent
    finally:
        for client in clients:
            await client.close()
        server.stop()


async def _total_subscribers(url: str, read_key: str, expected: int) -> bool:
    """Ask /live/stats on new connections until both workers answered; true
    when the subscribers they report add up to `expected`."""
    counts: dict[int, int] = {}
    for _ in range(30):
        seen = await stats(url, read_key)
        counts[seen["pid"]] = len(seen["subscribers"])
        if sum(counts.values()) == expected:
            return True
    await asyncio.sleep(0.05)
    return False

"""The LISTEN connection comes back by itself: after its backend is killed
(events committed meanwhile are caught up, none twice) and after a real
PostgreSQL restart (the subscription carries on over the same WebSocket)."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from tests.conftest import make_project
from tests.live.conftest import LiveClient, eventually, record, start_servers, stats


async def test_events_committed_while_not_listening_are_caught_up(live_server):
    bus, services = live_server.bus, live_server.services
    keys = await make_project(services, "catchup")
    client = await LiveClient.connect(live_server.url, keys.read_key)
    backoff, margin = bus.listener.min_backoff, bus.catchup_margin
    try:
        await client.subscribe()
        await eventually(lambda: bus.subscriber_count(keys.id) == 1)
        before = await record(live_server.url, keys.write_key, "c", "Before")
        assert await client.next_event() == before

        bus.listener.min_backoff = 1.0  # leave a window with nobody listening
        # A catch-up margin far shorter than the window: the catch-up must start
        # from when the lost connection was last alive, not from the reconnect.
        bus.catchup_margin = timedelta(milliseconds=100)
        reconnects, caught_up = bus.stats["reconnects"], bus.stats["caught_up"]
        await services.pool.execute("SELECT pg_terminate_backend($1)", bus.listener.connection.get_server_pid())
        await eventually(lambda: not bus.listening)
        during = [await record(live_server.url, keys.write_key, "c", "During", {"i": i}) for i in range(5)]
        assert await client.events(5) == during  # caught up after the reconnect, in order
        assert bus.stats["reconnects"] == reconnects + 1
        assert bus.stats["caught_up"] >= caught_up + 5

        after = await record(live_server.url, keys.write_key, "c", "After")
        assert await client.next_event() == after  # nothing twice
        await client.nothing_within(0.3)
    finally:
        bus.listener.min_backoff = backoff
        bus.catchup_margin = margin
        await client.close()


def _local_cluster(database_url: str) -> tuple[str, str] | None:
    """(version, name) of the Debian cluster serving `database_url`, if any."""
    url = urlparse(database_url)
    if url.hostname not in ("127.0.0.1", "localhost") or not shutil.which("pg_ctlcluster"):
        return None
    port = url.port or 5432
    for conf in sorted(Path("/etc/postgresql").glob("*/*/postgresql.conf")):
        text = conf.read_text(errors="replace")
        ports = [line.split("=", 1)[1].split("#")[0].strip() for line in text.splitlines()
                 if line.strip().startswith("port") and "=" in line]
        if (ports[-1] if ports else "5432") == str(port):
            return conf.parent.parent.name, conf.parent.name
    return None


async def _database_answers(database_url: str) -> bool:
    try:
        conn = await asyncpg.connect(database_url, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


async def _ensure_running(cluster: tuple[str, str], database_url: str) -> None:
    for _ in range(3):
        for _ in range(100):
            if await _database_answers(database_url):
                return
            await asyncio.sleep(0.1)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "start"],
                       capture_output=True, timeout=60)
    raise AssertionError("PostgreSQL did not come back")


async def test_subscriptions_survive_a_postgresql_restart(database_url, services, live_server):
    cluster = _local_cluster(database_url)
    if cluster is None:
        pytest.skip("needs the local Debian PostgreSQL cluster (pg_ctlcluster) to restart")
    (server,) = await start_servers(database_url, 1)
    keys = await make_project(services, "restart")
    client = await LiveClient.connect(server.url, keys.read_key)
    try:
        await client.subscribe({"names": ["Tick"]})
        await eventually(lambda: _subscribed(server.url, keys.read_key))
        first = await record(server.url, keys.write_key, "r", "Tick", {"n": 1})
        assert await client.next_event() == first
        reconnects = (await stats(server.url, keys.read_key))["reconnects"]

        restart = await asyncio.to_thread(
            subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"],
            capture_output=True, text=True, timeout=120,
        )
        assert restart.returncode == 0, restart.stderr
        await _ensure_running(cluster, database_url)

        # The first writes after the restart may meet dead pool connections:
        # UNAVAILABLE, retried. Whether an event commits before or after the
        # listener is back, it arrives (live, or caught up).
        second = await record(server.url, keys.write_key, "r", "Tick", {"n": 2}, retries=80)
        assert await client.next_event(timeout=30) == second
        await eventually(lambda: _listening_again(server.url, keys.read_key, reconnects), timeout=30)
        third = await record(server.url, keys.write_key, "r", "Tick", {"n": 3}, retries=80)
        assert await client.next_event(timeout=30) == third
    finally:
        await _ensure_running(cluster, database_url)
        # This session's own pools hold connections the restart killed.
        await services.pool.expire_connections()
        await live_server.services.pool.expire_connections()
        await client.close()
        server.stop()


async def _subscribed(url: str, read_key: str) -> bool:
    return len((await stats(url, read_key))["subscribers"]) == 1


async def _listening_again(url: str, read_key: str, reconnects: int) -> bool:
    try:
        seen = await stats(url, read_key)
    except AssertionError:  # 503 while the pool recovers
        return False
    return seen["listening"] and seen["reconnects"] > reconnects

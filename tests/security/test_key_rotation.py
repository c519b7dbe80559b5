"""`whodid project rotate-keys NAME` takes effect at once in running servers
(bench/check_key_rotation.py as a test), despite the per-process key cache
(app/auth.py KeyCache, emptied in every process by LISTEN/NOTIFY).

Each server is first shown to serve keys from its cache: the keys' hashes are
changed in the database *without* a notification, and the old keys still
work (so the rest of the test does exercise the cache). Then the command
rotates the keys: from the moment it returns, every request with an old key,
on a new connection, is refused with 401 and the new keys work, in the
`server` fixture and in both workers of a `whodid serve --workers 2`. The
last step repeats the rotation right after the key listeners' connections
were killed: a worker that is not listening must not serve from its cache."""
from __future__ import annotations

import asyncio
import os
import secrets
import sys
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest

from app.auth import ProjectKeys
from app.storage.listener import HEALTH_CHECK
from tests.support.server import make_project
from tests.support.live import ROOT, ServerProcess

REQUESTS = 40  # per check; new connection each, so both workers answer
PINNED_REQUESTS = 5  # per check on a connection whose worker is known


def _client(base_url: str) -> httpx.AsyncClient:
    # No keep-alive: every request opens a new connection (any worker may take it).
    return httpx.AsyncClient(base_url=base_url, timeout=20, limits=httpx.Limits(max_keepalive_connections=0),
                             headers={"Connection": "close"})


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def _track_on(http: httpx.AsyncClient, key: str, n: int) -> list[int]:
    return [(await http.get("/e", params={"_k": key, "_p": "rotation-check", "_n": "Checked"})).status_code
            for _ in range(n)]


async def _graphql_on(http: httpx.AsyncClient, key: str, n: int) -> list[int]:
    return [(await http.post("/graphql", json={"query": "{ eventNames }"}, headers=_bearer(key))).status_code
            for _ in range(n)]


async def track(base_url: str, key: str) -> list[int]:
    """Statuses of /e with `key` (the Kissmetrics endpoint takes either key)."""
    async with _client(base_url) as http:
        return await _track_on(http, key, REQUESTS)


async def graphql(base_url: str, key: str) -> list[int]:
    async with _client(base_url) as http:
        return await _graphql_on(http, key, REQUESTS)


async def live_stats(base_url: str, read_key: str, *, until_pids: int = 1, attempts: int = 400) -> tuple[set, set]:
    """GET /live/stats (read key) on new connections until `until_pids`
    worker pids answered (at least REQUESTS times): (statuses, pids)."""
    statuses, pids = set(), set()
    async with _client(base_url) as http:
        for i in range(attempts):
            response = await http.get("/live/stats", headers=_bearer(read_key))
            statuses.add(response.status_code)
            if response.status_code == 200:
                pids.add(response.json()["pid"])
            if i + 1 >= REQUESTS and (len(pids) >= until_pids or response.status_code != 200):
                break
    return statuses, pids


async def _pid_on(http: httpx.AsyncClient, read_key: str) -> int:
    response = await http.get("/live/stats", headers=_bearer(read_key))
    assert response.status_code == 200, response.text
    return response.json()["pid"]


@asynccontextmanager
async def every_worker(base_url: str, read_key: str, workers: int, attempts: int = 400):
    """One keep-alive connection per worker, each worker known by the pid
    /live/stats answers with (`read_key` must be accepted). The kernel
    spreads new connections over the workers unevenly, so requests on new
    connections may all reach one worker; a request on one of these reaches
    the worker named. Yields [(pid, client)]."""
    clients: dict[int, httpx.AsyncClient] = {}
    try:
        for _ in range(attempts):
            if len(clients) == workers:
                break
            http = httpx.AsyncClient(base_url=base_url, timeout=20, limits=httpx.Limits(max_connections=1))
            pid = await _pid_on(http, read_key)
            if pid in clients:
                await http.aclose()
            else:
                clients[pid] = http
        assert len(clients) == workers, f"only workers {sorted(clients)} answered in {attempts} connections"
        yield list(clients.items())
        for pid, http in clients.items():  # the requests did stay on their worker's connection
            assert await _pid_on(http, read_key) == pid
    finally:
        for http in clients.values():
            await http.aclose()


async def rotate(database_url: str, name: str) -> ProjectKeys:
    """`whodid project rotate-keys NAME --json`, the event loop running meanwhile
    (the in-process server serves and hears notifications as a real one does)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "project", "rotate-keys", name, "--json",
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    data = orjson.loads(out.decode().strip().splitlines()[-1])
    return ProjectKeys(data["id"], data["name"], data["writeKey"], data["readKey"])


async def change_hashes_silently(services, project: ProjectKeys) -> None:
    """New key hashes, with no NOTIFY: only a cache can still accept the old keys."""
    await services.pool.execute(
        "UPDATE projects SET write_key_hash = $2, read_key_hash = $3 WHERE id = $1",
        project.id, secrets.token_bytes(32), secrets.token_bytes(32))


async def warm(base_url: str, keys: ProjectKeys, workers: int) -> None:
    """Both keys used in every worker, so each worker's cache holds them."""
    async with every_worker(base_url, keys.read_key, workers) as pinned:
        for pid, http in pinned:
            assert set(await _track_on(http, keys.write_key, PINNED_REQUESTS)) == {200}, pid
            assert set(await _graphql_on(http, keys.read_key, PINNED_REQUESTS)) == {200}, pid


async def assert_rotated(base_url: str, old: ProjectKeys, new: ProjectKeys, workers: int) -> None:
    assert set(await track(base_url, old.write_key)) == {401}, "old write key still accepted"
    assert set(await graphql(base_url, old.read_key)) == {401}, "old read key still accepted"
    statuses, _ = await live_stats(base_url, old.read_key)
    assert statuses == {401}, "old read key still accepted by /live/stats"
    async with every_worker(base_url, new.read_key, workers) as pinned:
        for pid, http in pinned:
            assert set(await _track_on(http, old.write_key, PINNED_REQUESTS)) == {401}, (
                f"old write key still accepted by worker {pid}")
            assert set(await _graphql_on(http, old.read_key, PINNED_REQUESTS)) == {401}, (
                f"old read key still accepted by worker {pid}")
            assert set(await _track_on(http, new.write_key, PINNED_REQUESTS)) == {200}, pid
            assert set(await _graphql_on(http, new.read_key, PINNED_REQUESTS)) == {200}, pid
    assert set(await track(base_url, new.write_key)) == {200}
    assert set(await graphql(base_url, new.read_key)) == {200}


async def assert_cache_serves(base_url: str, services, keys: ProjectKeys, workers: int) -> None:
    """With the hashes changed behind the caches' back, every worker still
    accepts both old keys: the rest of the test does exercise the caches."""
    await change_hashes_silently(services, keys)
    async with every_worker(base_url, keys.read_key, workers) as pinned:
        for pid, http in pinned:
            assert set(await _track_on(http, keys.write_key, PINNED_REQUESTS)) == {200}, (
                f"worker {pid} did not serve the write key from its cache, so this test no longer shows "
                "that rotation beats the cache")
            assert set(await _graphql_on(http, keys.read_key, PINNED_REQUESTS)) == {200}, pid


async def test_rotation_is_immediate_in_the_server_fixture(services, server, database_url):
    keys = await make_project(services, "rotate-inproc")
    await warm(server, keys, workers=1)
    await assert_cache_serves(server, services, keys, workers=1)
    new = await rotate(database_url, keys.name)
    await assert_rotated(server, keys, new, workers=1)
    # and once more, from the new keys
    newer = await rotate(database_url, keys.name)
    await assert_rotated(server, new, newer, workers=1)


def _tagged(url: str, tag: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={tag}"


async def kill_key_listeners(services, tag: str) -> int:
    """Terminate the LISTEN connections (one per worker: keys and live) of the
    server tagged `tag`: their last statement is a LISTEN or the health check."""
    return await services.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = $1"
        " AND (query ILIKE 'LISTEN%' OR query = $2)", tag, HEALTH_CHECK)


@pytest.fixture
async def two_workers(database_url):
    tag = f"whodid-rotation-{secrets.token_hex(4)}"
    server = ServerProcess(_tagged(database_url, tag), workers=2)
    try:
        await server.ready(timeout=60)
        yield server, tag
    finally:
        server.stop()


async def test_rotation_is_immediate_in_every_worker(services, database_url, two_workers):
    server, tag = two_workers
    keys = await make_project(services, "rotate-workers")
    await warm(server.url, keys, workers=2)
    await assert_cache_serves(server.url, services, keys, workers=2)
    new = await rotate(database_url, keys.name)
    await assert_rotated(server.url, keys, new, workers=2)

    # The listeners lost right before a rotation: nothing may be served from
    # a cache that could have missed the notification.
    await warm(server.url, new, workers=2)
    assert await kill_key_listeners(services, tag) >= 2
    newer = await rotate(database_url, keys.name)
    await assert_rotated(server.url, new, newer, workers=2)
    assert server.proc.poll() is None, server.output()

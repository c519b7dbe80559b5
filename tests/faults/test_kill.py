"""A worker killed with SIGKILL during sustained ingestion, and one stopped with
SIGTERM: a client that retries with the same ids ends with every event stored
exactly once, and every acknowledged event is there."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import orjson

from tests.support.database import free_port

ROOT = Path(__file__).resolve().parents[2]
RECORD = 'mutation($id: String!, $n: Int!) { recordEvent(input: {identity: "k", name: "Tick", id: $id, properties: {n: $n}}) { duplicate } }'


def start(database_url: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "DATABASE_URL": database_url},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not start")


class RetryingClient:
    """Sends events 0..total-1 with ids, retrying each until acknowledged."""

    def __init__(self, port: int, key: str, total: int):
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.key = key
        self.total = total
        self.acked: set[int] = set()
        self.failures = 0

    async def send(self, client: httpx.AsyncClient, n: int) -> None:
        for _ in range(600):
            try:
                response = await client.post(self.url, headers={"Authorization": f"Bearer {self.key}"},
                                             json={"query": RECORD, "variables": {"id": f"ev-{n}", "n": n}})
                body = response.json()
                if response.status_code == 200 and not body.get("errors"):
                    self.acked.add(n)
                    return
            except (httpx.HTTPError, orjson.JSONDecodeError, ValueError):
                pass
            self.failures += 1
            await asyncio.sleep(0.05)
        raise AssertionError(f"event {n} never acknowledged")

    async def run(self, concurrency: int = 8) -> None:
        queue = list(range(self.total))

        async def lane() -> None:
            async with httpx.AsyncClient(timeout=5) as client:
                while queue:
                    await self.send(client, queue.pop(0))

        await asyncio.gather(*(lane() for _ in range(concurrency)))


async def stored_ids(database_url: str, project_id) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT idempotency_key FROM events WHERE project_id = $1", project_id)
    finally:
        await conn.close()
    return [r["idempotency_key"] for r in rows]


async def interrupted_run(database_url: str, project, sig: signal.Signals) -> RetryingClient:
    port = free_port()
    proc = start(database_url, port)
    await wait_ready(port)
    client = RetryingClient(port, project.write_key, total=600)
    sending = asyncio.create_task(client.run())
    while len(client.acked) < 150:
        await asyncio.sleep(0.01)
    proc.send_signal(sig)
    await asyncio.to_thread(proc.wait, 30)
    acked_before_stop = set(client.acked)
    stored = await stored_ids(database_url, project.id)
    # Every event acknowledged before the stop is committed, even after SIGKILL.
    assert {f"ev-{n}" for n in acked_before_stop} <= set(stored)
    proc = start(database_url, port)
    try:
        await wait_ready(port)
        await asyncio.wait_for(sending, 120)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    return client


async def test_sigkill_during_ingestion_loses_nothing_acknowledged(database_url, project):
    client = await interrupted_run(database_url, project, signal.SIGKILL)
    stored = await stored_ids(database_url, project.id)
    assert sorted(stored) == sorted(f"ev-{n}" for n in range(client.total))  # each exactly once
    assert client.failures > 0  # the kill really interrupted the stream


async def test_sigterm_drains_the_writer(database_url, project):
    client = await interrupted_run(database_url, project, signal.SIGTERM)
    stored = await stored_ids(database_url, project.id)
    assert sorted(stored) == sorted(f"ev-{n}" for n in range(client.total))

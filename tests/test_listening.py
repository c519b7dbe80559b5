"""app/listening.py: `whodid serve --workers N` on Linux gives each worker a
listening socket of its own (SO_REUSEPORT), so that a client's few
connections are spread over the workers by the kernel rather than taken by
whichever worker wakes first; a restarted worker binds its own again, and a
port someone else listens on is refused. Read from /proc: which process holds
which socket."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.listening import spreads_connections
from tests.support.database import free_port
from tests.support.live import ROOT, ServerProcess

pytestmark = pytest.mark.skipif(not spreads_connections(8000), reason="SO_REUSEPORT spreads connections on Linux only")

LISTEN, ESTABLISHED = "0A", "01"


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the IPv4 TCP sockets on local `port` in `state` (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def _owners(pids: list[int], inodes: set[int]) -> dict[int, int]:
    """inode -> the pid among `pids` that holds it."""
    owners = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:  # the process ended since it was listed (a killed worker)
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                owners[int(target[8:-1])] = pid
    return owners


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def _workers_listening(server: ServerProcess, workers: int, timeout: float = 60) -> dict[int, int]:
    """Once `workers` sockets listen on the port: listening inode -> worker pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.output()
        inodes = _sockets(server.port, LISTEN)
        owners = _owners(_children(server.proc.pid), inodes)
        if len(inodes) == workers and len(owners) == workers:
            return owners
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workers} workers did not listen: {server.output()}")


async def _hold_connections(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` keep-alive connections opened at once, each answered once."""
    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        return writer

    return await asyncio.gather(*(one() for _ in range(count)))


async def test_each_worker_listens_on_its_own_socket_and_takes_connections(database_url):
    server = ServerProcess(database_url, workers=2)
    try:
        await server.ready(timeout=60)
        owners = await _workers_listening(server, 2)
        assert len(set(owners.values())) == 2  # two sockets, one per worker
        assert server.proc.pid not in owners.values()  # the supervisor accepts nothing

        # 32 connections at once: each worker holds some (all on one worker: 1 in 2^31 by the hash).
        writers = await _hold_connections(server.port, 32)
        try:
            held = _owners(list(owners.values()), _sockets(server.port, ESTABLISHED))
            per_worker = {pid: list(held.values()).count(pid) for pid in owners.values()}
            assert sum(per_worker.values()) == 32 and min(per_worker.values()) >= 1, per_worker
        finally:
            for writer in writers:
                writer.close()

        # A worker killed is replaced, and the new one binds its own socket again.
        killed = next(iter(owners.values()))
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            owners = await _workers_listening(server, 2)
            if killed not in owners.values():
                break
            await asyncio.sleep(0.2)
        assert killed not in owners.values() and len(set(owners.values())) == 2, server.output()
        await _hold_connections(server.port, 4)
    finally:
        server.stop()


def test_a_port_someone_listens_on_is_refused(database_url):
    taken = socket.socket()
    taken.bind(("127.0.0.1", free_port()))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "-m", "app", "serve", "--workers", "2", "--port", str(port)],
                              cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
                              capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert done.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr

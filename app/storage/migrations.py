"""Applies db/migrations/*.sql in order, once each, under an advisory lock so
that several workers can start at the same time.

A migration runs in one transaction, unless its first line is
`-- whodid: no transaction`: then each of its statements runs on its own (they
are separated by a `;` at the end of a line). That is for what PostgreSQL
cannot do in a transaction, such as `CREATE INDEX CONCURRENTLY`, which builds an
index on a live table without blocking its writes. Such a migration must be
safe to run again from the start after an interruption (it is recorded only
once it has finished)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger("whodid.migrations")

# An arbitrary constant: the advisory lock id that serialises migration runs.
MIGRATION_LOCK_ID = 0x77686F646964  # "whodid"
NO_TRANSACTION = "-- whodid: no transaction"
LOCK_POLL_SECONDS = 0.2


def migration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())


def statements(text: str) -> list[str]:
    """The statements of a no-transaction migration: split after each line that
    ends with `;` (comment lines dropped)."""
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    if "\n".join(current).strip():
        out.append("\n".join(current).strip())
    return out


async def migrate(conn: asyncpg.Connection, directory: Path) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    # Polled, not waited for: a session blocked in pg_advisory_lock holds a
    # snapshot, and CREATE INDEX CONCURRENTLY in the session that holds the
    # lock waits for every older snapshot to go: a deadlock.
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_ID):
        await asyncio.sleep(LOCK_POLL_SECONDS)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in migration_files(directory):
            if path.name in done:
                continue
            text = path.read_text()
            if text.startswith(NO_TRANSACTION):
                for statement in statements(text):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", path.name)
            else:
                async with conn.transaction():
                    await conn.execute(text)
                    await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", path.name)
            # A new database takes every migration: one line for all (below), not one each.
            log.log(logging.INFO if done else logging.DEBUG, "applied migration %s", path.name)
            applied.append(path.name)
        if applied and not done:
            log.info("created whodid's tables (%d migrations, up to %s)", len(applied), applied[-1])
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied

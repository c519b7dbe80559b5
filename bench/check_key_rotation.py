"""Check that the per-process key cache (app/auth.py KeyCache) never lets an
old key through after `whodid project rotate-keys`, in any worker:

1. `whodid serve --workers 2`; requests with the write key on new
   connections (so both workers cache it) succeed;
2. rotate the keys; right after the command returns, every request with the
   old key, on new connections, must get 401, and the new key 200;
3. the same after the key listeners' connections are killed
   (pg_terminate_backend): while a worker is not listening it must not serve
   from its cache.

    .venv/bin/python -m bench.check_key_rotation"""
from __future__ import annotations

import asyncio
import http.client
import os
import subprocess
import time

import asyncpg
import orjson

from app.storage.listener import HEALTH_CHECK

from . import common


def status(port: int, key: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/e?_k={key}&_p=rotation-check&_n=Checked")
        return conn.getresponse().status
    finally:
        conn.close()


def rotate(url: str, name: str) -> dict:
    out = subprocess.run([str(common.VENV_BIN / "whodid"), "project", "rotate-keys", name, "--json"],
                         env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, check=True)
    return orjson.loads(out.stdout)


async def kill_key_listeners(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (query ILIKE 'LISTEN%' OR query = $1)", HEALTH_CHECK)
    finally:
        await conn.close()


def main() -> None:
    failures = []
    with common.fresh_database() as url, common.whodid_server(url) as server:
        project = common.create_project(url)
        key = project["writeKey"]
        for step in ("rotation", "rotation while the listeners reconnect"):
            ok = [status(server.port, key) for _ in range(40)]
            if set(ok) != {200}:
                failures.append(f"{step}: the current key got {sorted(set(ok))}")
            if step != "rotation":
                killed = asyncio.run(kill_key_listeners(url))
                print(f"killed {killed} key-listener connections")
            keys = rotate(url, project["name"])
            old = [status(server.port, key) for _ in range(40)]
            new = [status(server.port, keys["writeKey"]) for _ in range(40)]
            print(f"{step}: old key -> {sorted(set(old))}, new key -> {sorted(set(new))}")
            if set(old) != {401}:
                failures.append(f"{step}: the old key still got {sorted(set(old))}")
            if set(new) != {200}:
                failures.append(f"{step}: the new key got {sorted(set(new))}")
            key = keys["writeKey"]
            time.sleep(1)
    print("OK: rotation takes effect at once in every worker" if not failures else "FAILED:\n  " + "\n  ".join(failures))
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()

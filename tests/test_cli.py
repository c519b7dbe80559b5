"""The `whodid` command, run as a real process."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from tests.support.database import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent


def whodid(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fresh_database(admin_url):
    with scratch_database(admin_url, "whodid_cli") as url:
        yield url


def test_project_create_json_and_rotate(fresh_database):
    env = {"DATABASE_URL": fresh_database}
    created = whodid("project", "create", "shop", "--json", env=env)
    assert created.returncode == 0, created.stderr
    keys = orjson.loads(created.stdout)
    assert set(keys) == {"id", "name", "writeKey", "readKey"} and keys["name"] == "shop"
    again = whodid("project", "create", "shop", "--json", env=env)
    assert again.returncode != 0 and "already exists" in again.stderr
    rotated = orjson.loads(whodid("project", "rotate-keys", "shop", "--json", env=env).stdout)
    assert rotated["id"] == keys["id"] and rotated["readKey"] != keys["readKey"]

    async def stored():
        conn = await asyncpg.connect(fresh_database)
        try:
            return await conn.fetchrow("SELECT write_key_hash, read_key_hash FROM projects WHERE name = 'shop'")
        finally:
            await conn.close()

    row = asyncio.run(stored())
    assert keys["readKey"].encode() not in bytes(row["read_key_hash"])  # hashed, not stored
    assert len(bytes(row["read_key_hash"])) == 32


def test_migrate_is_idempotent(fresh_database):
    first = whodid("migrate", env={"DATABASE_URL": fresh_database})
    second = whodid("migrate", env={"DATABASE_URL": fresh_database})
    assert "0001_initial.sql" in first.stdout and "up to date" in second.stdout


def test_export_schema_matches_the_file():
    out = whodid("export-schema")
    assert out.stdout == (ROOT / "schema.graphql").read_text()


def start_server(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


def first_run_keys(output: str) -> tuple[str, str]:
    lines = {line.split(":")[0].strip(): line.rsplit(" ", 1)[-1] for line in output.splitlines() if "key" in line}
    return lines["write key (public, for tracking)"], lines["read key  (secret, for GraphQL)"]


def round_trip(port: int, write_key: str, read_key: str, identity: str) -> list[str]:
    url = f"http://127.0.0.1:{port}/graphql"
    record = {"query": 'mutation($i: String!) { recordEvent(input: {identity: $i, name: "Visited Site"}) { duplicate } }',
              "variables": {"i": identity}}
    assert httpx.post(url, json=record, headers={"Authorization": f"Bearer {write_key}"}).json()["data"]
    answer = httpx.post(url, json={"query": "{ events { nodes { identity } } }"},
                        headers={"Authorization": f"Bearer {read_key}"}).json()
    return [e["identity"] for e in answer["data"]["events"]["nodes"]]


def serve_twice(env: dict) -> None:
    port = free_port()
    proc = start_server(env, port)
    try:
        wait_ready(port, proc)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        out = stop(proc)
    # uvicorn re-raises SIGTERM after a clean shutdown, so -15 is a normal exit.
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out
    write_key, read_key = first_run_keys(out)
    port = free_port()
    proc = start_server(env, port)
    try:
        wait_ready(port, proc)
        assert round_trip(port, write_key, read_key, "visitor-1") == ["visitor-1"]
    finally:
        out = stop(proc)
    assert "shown only this once" not in out  # keys are printed on the first start only
    proc = start_server(env, port)
    try:
        wait_ready(port, proc)  # data survives a restart
        assert round_trip(port, write_key, read_key, "visitor-2") == ["visitor-2", "visitor-1"]
    finally:
        stop(proc)


def test_serve_with_database_url_prints_keys_once_and_keeps_data(fresh_database):
    serve_twice({"DATABASE_URL": fresh_database})


def test_serve_embedded_postgres_survives_restarts(tmp_path):
    env = {"DATABASE_URL": "", "WHODID_DATA_DIR": str(tmp_path / "data")}
    try:
        serve_twice(env)
    finally:
        # Each serve stopped the embedded PostgreSQL it started (tests/test_embedded_lifecycle.py);
        # `whodid db stop` in case a failure left one running.
        stopped = whodid("db", "stop", env=env)
    assert "not running" in stopped.stdout, stopped


@pytest.mark.parametrize("variable, value, message", [
    ("WHODID_ACCESS_LOG", "verbose", "WHODID_ACCESS_LOG is one of all, errors, off (got 'verbose')"),
    ("WHODID_REPORT_TTL", "ten", "WHODID_REPORT_TTL must be a whole number (got 'ten')"),
    ("WHODID_REPORT_TIMEOUT", "1s", "WHODID_REPORT_TIMEOUT must be a number (got '1s')"),
])
def test_a_malformed_setting_is_named_without_a_traceback(fresh_database, variable, value, message):
    done = whodid("serve", "--port", str(free_port()), env={"DATABASE_URL": fresh_database, variable: value})
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr

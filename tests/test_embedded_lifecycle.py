"""The embedded PostgreSQL lives as long as whodid, as processes: `whodid serve`
stopped with Ctrl-C (SIGINT) or SIGTERM stops the postmaster it started; a
one-off command stops what it started and leaves alone what a running serve
uses; a client that is not whodid keeps it running until `whodid db stop`.
And the first start is quiet: where the data is, the keys once, the address."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.database import free_port

ROOT = Path(__file__).resolve().parent.parent


def env_for(data: Path) -> dict:
    return {**os.environ, "DATABASE_URL": "", "WHODID_DATA_DIR": str(data), "XDG_RUNTIME_DIR": ""}


def whodid(data: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = env_for(data)
    environment.pop("XDG_RUNTIME_DIR")  # as in containers and `su` shells: pgserver used to warn about it
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def serve(data: Path, port: int) -> subprocess.Popen:
    environment = env_for(data)
    environment.pop("XDG_RUNTIME_DIR")
    return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(proc: subprocess.Popen, port: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"whodid exited {proc.returncode}: {proc.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("whodid did not become ready")


def postmaster_pid(data: Path) -> int | None:
    """The pid in postmaster.pid when that process runs, else None."""
    pid_file = data / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if psutil.pid_exists(pid) else None


def wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded") / "data"
    yield folder
    if postmaster_pid(folder):  # a failed test must not leave a postmaster behind
        whodid(folder, "db", "stop")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_the_postmaster_it_started(data, signum):
    first = not data.exists()
    port = free_port()
    proc = serve(data, port)
    try:
        wait_ready(proc, port)
        postmaster = postmaster_pid(data)
        assert postmaster is not None
    finally:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signum, (out, err)  # ends as the signal would have ended it
    assert wait_gone(postmaster), "the postmaster outlived whodid"
    assert postmaster_pid(data) is None
    assert "embedded PostgreSQL stopped" in err
    if first:
        # Quiet: what a person needs, not initdb's output nor platformdirs' warning.
        text = out + err
        for noise in ("initdb", "XDG_RUNTIME_DIR", "RuntimeDirWarning", "Running commandline", "pg_ctl"):
            assert noise not in text, f"{noise!r} in the output of the first start:\n{text}"
        lines = out.splitlines()
        assert lines[0].startswith(f"data:      {data / 'pgdata'}"), out
        assert "psql / pg_dump: 'postgresql://" in lines[1]
        assert "Its keys are shown only this once" in out and "wk_" in out and "rk_" in out
        assert lines[-2:] == [f"whodid on http://127.0.0.1:{port}/graphql (GraphiQL in a browser; live events at /live)",
                              f"dashboard on http://127.0.0.1:{port}/dashboard"], out
        assert len(lines) == 7, out
        # The log: the tables created, uvicorn's start and stop, the request, the stop; one line each.
        assert len(err.splitlines()) <= 12, err
        assert "Traceback" not in err


def test_a_command_stops_what_it_started_and_leaves_what_serve_uses(data):
    done = whodid(data, "migrate")
    assert done.returncode == 0, done.stderr
    assert postmaster_pid(data) is None, "migrate left the PostgreSQL it started running"
    assert done.stderr == "", done.stderr

    port = free_port()
    proc = serve(data, port)
    try:
        wait_ready(proc, port)
        postmaster = postmaster_pid(data)
        assert whodid(data, "project", "create", "shop", "--json").returncode == 0
        assert postmaster_pid(data) == postmaster, "a command stopped the PostgreSQL serve uses"
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        status = whodid(data, "db", "status").stdout
        assert f"running (pid {postmaster})" in status and f"used by whodid process {proc.pid}" in status
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert wait_gone(postmaster)


def test_another_client_keeps_it_running_until_db_stop(data):
    import asyncio

    import asyncpg

    port = free_port()
    proc = serve(data, port)
    try:
        wait_ready(proc, port)
        uri = whodid(data, "db", "status").stdout.split("'")[1]

        async def hold() -> asyncpg.Connection:
            return await asyncpg.connect(uri, server_settings={"application_name": "psql"})

        loop = asyncio.new_event_loop()
        client = loop.run_until_complete(hold())
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    try:
        assert "left running: 1 other client connection" in err, err
        assert postmaster_pid(data) is not None
    finally:
        loop.run_until_complete(client.close())
        loop.close()
    stopped = whodid(data, "db", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped
    assert postmaster_pid(data) is None
    assert whodid(data, "db", "status").stdout.startswith("stopped")


def test_busy_port_fails_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT,
                              env=env_for(tmp_path / "data"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done
    assert done.stdout == ""  # no banner, no keys
    assert done.stderr.strip() == f"whodid: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert not (tmp_path / "data").exists()  # no PostgreSQL was started for it


def test_sigterm_to_a_long_command_stops_what_it_started(data):
    environment = env_for(data)
    environment.pop("XDG_RUNTIME_DIR")
    proc = subprocess.Popen([sys.executable, "-m", "app", "demo", "--people", "200000", "--project", "long"],
                            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "keys are shown only this once" not in proc.stdout.readline():  # loading has begun
            assert time.monotonic() < deadline and proc.poll() is None
        postmaster = postmaster_pid(data)
        assert postmaster is not None
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert wait_gone(postmaster), "the postmaster outlived an interrupted demo"

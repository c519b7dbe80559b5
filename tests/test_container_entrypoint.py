"""The image's entrypoint as a process: `whodid serve` as PID 1 of a PID
namespace of its own (what `docker run` makes; `unshare` needs root, so this
is skipped elsewhere) with the embedded PostgreSQL, stopped with SIGTERM as
`docker stop` does. whodid must handle it as PID 1 (the kernel drops signals
an init has no handler for), shut PostgreSQL down cleanly before it exits
(when PID 1 exits the kernel kills whatever is left in the namespace), keep
the data for the next start, and exit 143. Plus the Dockerfile's promises:
the data folder is a volume."""
from __future__ import annotations

import os
import re
import shutil
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


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "echo $$"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "1"


def start_as_pid_1(data: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": "", "WHODID_DATA_DIR": str(data)}
    env.pop("XDG_RUNTIME_DIR", None)  # as in a container
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "app", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def whodid_of(unshare: subprocess.Popen) -> psutil.Process:
    """The forked child of unshare: whodid, PID 1 inside its namespace."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(unshare.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("unshare did not start whodid")


def wait_ready(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("not ready")


def record(port: int, key: str, identity: str) -> None:
    query = 'mutation($i: String!) { recordEvent(input: {identity: $i, name: "Ran In A Container"}) { duplicate } }'
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": {"i": identity}},
                        headers={"Authorization": f"Bearer {key}"}).json()
    assert "errors" not in answer, answer


def identities(port: int, key: str) -> list[str]:
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ events { nodes { identity } } }"},
                        headers={"Authorization": f"Bearer {key}"}).json()
    return sorted(e["identity"] for e in answer["data"]["events"]["nodes"])


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare(1) for a PID namespace")
def test_sigterm_to_whodid_as_pid_1_shuts_postgres_down_cleanly_and_keeps_the_data(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    proc = start_as_pid_1(data, port)
    try:
        wait_ready(proc, port)
        keys = dict(re.findall(r"(write|read) key .*?(\w\w_\S+)", "\n".join(
            line for line in _peek_stdout(proc))))
        record(port, keys["write"], "first-container")
        whodid_of(proc).send_signal(signal.SIGTERM)  # docker stop
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert "embedded PostgreSQL stopped" in err, err
    log = (data / "pgdata" / "log").read_text()
    assert "database system is shut down" in log, log[-2000:]  # a clean shutdown, not a kill
    assert not (data / "pgdata" / "postmaster.pid").exists()

    port = free_port()
    proc = start_as_pid_1(data, port)  # the next container on the same volume
    try:
        wait_ready(proc, port)
        record(port, keys["write"], "second-container")
        assert identities(port, keys["read"]) == ["first-container", "second-container"]
        whodid_of(proc).send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (data / "pgdata" / "log").read_text()
    assert "not properly shut down" not in log and "automatic recovery" not in log, log[-2000:]
    # (out, err): the second container once exited 1 in a loaded run of the whole suite
    # (on the Citus cluster, beside a CI run), not reproduced since; its output says why.
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)


_seen: dict[int, list[str]] = {}


def _peek_stdout(proc: subprocess.Popen) -> list[str]:
    """The banner lines printed so far (up to the address line)."""
    lines = _seen.setdefault(proc.pid, [])
    while not any(line.startswith("whodid on ") for line in lines):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    return lines


def test_the_dockerfile_keeps_the_data_folder_in_a_volume():
    dockerfile = (ROOT / "Dockerfile").read_text()
    data_dir = re.search(r"^ENV WHODID_DATA_DIR=(\S+)", dockerfile, re.M)[1]
    assert re.search(rf"^VOLUME {re.escape(data_dir)}$", dockerfile, re.M)
    assert re.search(r'^CMD \["whodid", "serve"', dockerfile, re.M)  # exec form: whodid is PID 1, gets SIGTERM
    compose = (ROOT / "compose.yaml").read_text()
    assert "DATABASE_URL: postgresql://" in compose and "REDIS_URL: redis://" in compose

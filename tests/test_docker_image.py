"""The Docker image, built and run, when a Docker daemon answers (DOCKER_HOST is
honoured; skipped otherwise). `docker run -v` as the README says, an event
recorded, `docker stop`: exit 143 after a clean PostgreSQL shutdown; a new
container on the same volume has the event. WHODID_DOCKER_BASE picks the base
image (`--build-arg BASE=…`) where Docker Hub cannot be reached."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.database import free_port

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "whodid:test"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done


def _daemon_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


pytestmark = [pytest.mark.docker, pytest.mark.skipif(not _daemon_answers(), reason="no Docker daemon answers")]


@pytest.fixture(scope="module")
def image():
    base = os.environ.get("WHODID_DOCKER_BASE")
    args = ["build", "-t", IMAGE, *(["--build-arg", f"BASE={base}"] if base else []), "--network", "host", str(ROOT)]
    docker(*args, timeout=1200)
    return IMAGE


def wait_ready(port: int, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"container not ready: {docker('logs', name, check=False).stderr[-3000:]}")


def gql(port: int, key: str, query: str) -> dict:
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query},
                        headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
    assert "errors" not in answer, answer
    return answer["data"]


def test_docker_run_with_a_volume_keeps_the_data_and_stops_cleanly(image):
    volume = f"whodid-test-{secrets.token_hex(4)}"
    names = []
    try:
        def run() -> tuple[str, int]:
            name = f"whodid-test-{secrets.token_hex(4)}"
            names.append(name)
            port = free_port()
            docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", "-v", f"{volume}:/home/whodid/data",
                   image)
            wait_ready(port, name)
            return name, port

        name, port = run()
        logs = docker("logs", name).stdout
        write_key = re.search(r"(wk_\S+)", logs)[1]
        read_key = re.search(r"(rk_\S+)", logs)[1]
        gql(port, write_key, 'mutation { recordEvent(input: {identity: "in-docker", name: "Ran"}) { duplicate } }')
        docker("stop", "-t", "30", name, timeout=60)
        assert docker("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip() == "143"
        assert "embedded PostgreSQL stopped" in docker("logs", name).stderr

        name, port = run()  # a new container, the same volume
        assert "shown only this once" not in docker("logs", name).stdout
        events = gql(port, read_key, "{ events { nodes { identity } } }")["events"]["nodes"]
        assert events == [{"identity": "in-docker"}]
        docker("stop", "-t", "30", name, timeout=60)
        log = docker("run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "cat", image, "/data/pgdata/log").stdout
        assert log.count("database system is shut down") == 2, log[-3000:]
        assert "automatic recovery" not in log
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
        docker("volume", "rm", "-f", volume, check=False)

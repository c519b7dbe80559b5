"""Shared pieces of the benchmarks: a fresh database per run, a whodid server
(`whodid serve --workers N`) or the bare app under uvicorn, a project's keys,
wrk runs with their figures, and a sampler of each worker's peak RSS.

Everything stays on loopback; every loop is bounded."""
from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("WHODID_BENCH_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def migrate(url: str, tree: Path | None = None) -> None:
    """`whodid migrate` of this working tree (or of the code in `tree`, e.g.
    an exported_tree) on `url`."""
    env = {**os.environ, "DATABASE_URL": url}
    if tree is not None:
        env.update(PYTHONPATH=str(tree), WHODID_MIGRATIONS_DIR=str(tree / "db" / "migrations"))
    subprocess.run([str(VENV_BIN / "whodid"), "migrate"], cwd=tree or ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


@contextmanager
def fresh_database(prefix: str = "whodid_bench", keep: bool = False):
    """A new, migrated database; dropped afterwards unless `keep`."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = db_url(name)
    try:
        migrate(url)
        yield url
    finally:
        if not keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ------------------------------------------------------------------ Citus

# `--citus URL` of the benchmarks: a Citus coordinator (../shared/tools/citus-cluster
# starts one: postgresql://postgres@127.0.0.1:9700/postgres).
_PROPAGATE = {"citus.enable_create_database_propagation": "on"}


async def _citus_create(admin_url: str, name: str) -> None:
    """CREATE DATABASE on every node of the cluster, with the citus extension on
    each and the coordinator and workers registered in it (as the test
    suite's tests/support/database.py does)."""
    admin = await asyncpg.connect(admin_url, server_settings=_PROPAGATE)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        coordinator = await admin.fetchrow("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid = 0")
        workers = await admin.fetch("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive"
                                    " AND noderole = 'primary' ORDER BY nodeid")
    finally:
        await admin.close()
    user = admin_url.split("//", 1)[1].split("@", 1)[0] if "@" in admin_url else "postgres"
    for node in workers:
        conn = await asyncpg.connect(host=node["nodename"], port=node["nodeport"], user=user, database=name)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        finally:
            await conn.close()
    conn = await asyncpg.connect(f"{admin_url.rpartition('/')[0]}/{name}")
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        if coordinator is not None:
            await conn.execute("SELECT citus_set_coordinator_host($1, $2)", coordinator[0], coordinator[1])
        for node in workers:
            await conn.execute("SELECT citus_add_node($1, $2)", node[0], node[1])
    finally:
        await conn.close()


async def _citus_drop(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url, server_settings=_PROPAGATE)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def fresh_citus_database(admin_url: str, prefix: str = "whodid_bench_citus", keep: bool = False,
                         tree: Path | None = None):
    """A new database on the Citus cluster of `admin_url`, migrated (so its
    tables are distributed by person, db/migrations/0013_citus.sql) by this
    working tree or by the code in `tree`."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_citus_create(admin_url, name))
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    try:
        migrate(url, tree)
        yield url
    finally:
        if not keep:
            asyncio.run(_citus_drop(admin_url, name))


def create_project(url: str, name: str | None = None) -> dict:
    """`whodid project create NAME --json`: {id, name, writeKey, readKey}."""
    name = name or f"bench-{secrets.token_hex(4)}"
    out = subprocess.run([str(VENV_BIN / "whodid"), "project", "create", name, "--json"], cwd=ROOT,
                         env={**os.environ, "DATABASE_URL": url}, check=True, capture_output=True, text=True)
    return orjson.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ servers


def _wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """PIDs of the uvicorn worker processes (children of the supervisor,
        less multiprocessing's resource tracker)."""
        import psutil

        out = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "resource_tracker" in cmd:
                continue
            out.append(child.pid)
        return sorted(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def _served(name: str, command: list[str], *, cwd: Path, env: dict | None, ready_path: str, workers: int):
    """`command` (a server taking --port) on a free port, logging to a
    temporary file, until it answers `ready_path` with every worker up;
    stopped and its log removed afterwards."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"whodid-{name}-", suffix=".log")[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen([*command, "--port", str(port)], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, proc, port, log)
    try:
        _wait_ready(port, ready_path, proc)
        _wait_workers(server, workers)
        yield server
    finally:
        server.stop()
        log.unlink(missing_ok=True)


@contextmanager
def whodid_server(url: str, workers: int = 2, env: dict | None = None, tree: Path | None = None,
                  name: str = "whodid"):
    """`whodid serve --workers N` on a free port. `tree`: serve the code of
    another checkout (see exported_tree) instead of this one."""
    environment = {**os.environ, "DATABASE_URL": url, **(env or {})}
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    with _served(name, [sys.executable, "-m", "app", "serve", "--workers", str(workers)], cwd=tree or ROOT,
                 env=environment, ready_path="/readyz", workers=workers) as server:
        yield server


@contextmanager
def bare_server(workers: int = 2):
    """bench/bare_app.py under uvicorn, served the same way as whodid."""
    with _served("bare", [str(VENV_BIN / "uvicorn"), "bench.bare_app:app", "--workers", str(workers),
                          "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
                 cwd=ROOT, env=None, ready_path="/healthz", workers=workers) as server:
        yield server


@contextmanager
def exported_tree(ref: str):
    """The files of git `ref` in a temporary folder (git archive: the
    repository itself is not touched), e.g. to run the code before a change
    side by side with the working tree."""
    folder = Path(tempfile.mkdtemp(prefix="whodid-ref-"))
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measured_in_tree(script: Path, args: list[str], tree: Path | None = None) -> dict:
    """Run the bench file `script` as a script in a process of its own, with
    the app code of `tree` (an exported_tree; this working tree's when None)
    on its path, and return the JSON object its last line of output prints:
    REF's code measured beside this tree's, each in a fresh process."""
    code = tree or ROOT
    out = subprocess.run([sys.executable, str(script), *args], cwd=code, env={**os.environ, "PYTHONPATH": str(code)},
                         check=True, capture_output=True, text=True).stdout
    return orjson.loads(out.strip().splitlines()[-1])


def whodid_servers(stack, compare_ref: str | None, citus: str | None = None, *, workers: int = 2,
                   env: dict | None = None, prefix: str = "whodid_bench") -> list[tuple[str, "Server", str]]:
    """(ref or "", server, database url) for `whodid serve --workers N` of this
    working tree, each on its own fresh database (named from `prefix`),
    preceded by one serving the code of git `compare_ref` when given
    (before/after side by side), followed by one on a fresh database of the
    Citus cluster `citus` when given. Entered on `stack` (a
    contextlib.ExitStack)."""
    servers = []
    if compare_ref:
        tree = stack.enter_context(exported_tree(compare_ref))
        url = stack.enter_context(fresh_database(prefix))
        servers.append((compare_ref, stack.enter_context(
            whodid_server(url, workers=workers, env=env, tree=tree, name=compare_ref)), url))
    url = stack.enter_context(fresh_database(prefix))
    servers.append(("", stack.enter_context(whodid_server(url, workers=workers, env=env)), url))
    if citus:
        url = stack.enter_context(fresh_citus_database(citus))
        servers.append(("citus", stack.enter_context(whodid_server(url, workers=workers, env=env, name="citus")), url))
    return servers


def postmaster_started() -> str:
    """When PostgreSQL last started: a run during which this changes was
    disturbed by a restart (other people share the server) and is repeated."""
    async def get():
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            return str(await conn.fetchval("SELECT pg_postmaster_start_time()"))
        finally:
            await conn.close()
    return asyncio.run(get())


def _wait_workers(server: Server, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(server.workers()) < count:
        time.sleep(0.1)


# ------------------------------------------------------------------ RSS


class RssSampler:
    """Samples the RSS of the given processes every `interval` seconds in a
    thread; `peak` maps pid -> the largest RSS seen (bytes)."""

    def __init__(self, pids: list[int], interval: float = 0.1):
        import psutil

        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.interval = interval
        self.peak: dict[int, int] = {pid: 0 for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for pid, proc in self.procs.items():
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                if rss > self.peak[pid]:
                    self.peak[pid] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def peak_mb(self) -> list[float]:
        return [round(v / 2**20, 1) for _, v in sorted(self.peak.items())]


def connections_by_worker(pids: list[int], port: int) -> list[int | str]:
    """How many established TCP connections on `port` each process holds
    (which worker takes a new connection is the kernel's choice: app/listening.py);
    "?" for a process that could not be read (gone)."""
    import psutil

    counts: list[int | str] = []
    for pid in sorted(pids):
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            counts.append("?")
            continue
        counts.append(sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port))
    return counts


def database_backends(url: str) -> list[int]:
    """PIDs of the PostgreSQL backends connected to `url`'s database (the
    servers' pools, once warm)."""
    name = url.rsplit("/", 1)[1]
    if not url.startswith(ADMIN_URL.rpartition("/")[0] + "/"):
        return []  # another server (a Citus cluster: its backends are not counted)

    async def get():
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await conn.close()
        return [r["pid"] for r in rows]

    try:
        return asyncio.run(get())
    except asyncpg.TooManyConnectionsError:  # the shared server is full: not counted this time
        return []


class CpuMeter:
    """CPU seconds (user + system) spent during the block by groups of
    processes, each group given by a function listing its PIDs (asked at the
    start and at the end, so that a PostgreSQL backend opened meanwhile counts
    from birth), and by the child processes that ended meanwhile (wrk: "load
    generator")."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]):
        self.groups = groups
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _cpu(pids: list[int]) -> dict[int, float]:
        import psutil

        out = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            out[pid] = times.user + times.system
        return out

    @staticmethod
    def _children() -> float:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> "CpuMeter":
        self._start = {name: self._cpu(pids()) for name, pids in self.groups.items()}
        self._start_children = self._children()
        return self

    def __exit__(self, *exc) -> None:
        for name, pids in self.groups.items():
            before = self._start[name]
            self.seconds[name] = sum(t - before.get(pid, 0.0) for pid, t in self._cpu(pids()).items())
        self.seconds["load generator"] = self._children() - self._start_children

    def per_request_us(self, requests: int) -> dict[str, float]:
        return {name: 1e6 * value / max(requests, 1) for name, value in self.seconds.items()}


def writer_groups(base: str) -> tuple[float, float]:
    """(sum, count) of whodid_writer_batch_size from the server's /metrics:
    items committed and group commits so far, all workers."""
    import urllib.request

    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        for name in ("whodid_writer_batch_size_sum", "whodid_writer_batch_size_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("whodid_writer_batch_size_sum", 0.0), values.get("whodid_writer_batch_size_count", 0.0)


# ------------------------------------------------------------------ wrk


@dataclass
class WrkResult:
    requests: int = 0          # responses read by wrk
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    non2xx: int = 0
    socket_errors: int = 0
    ok: int = 0                # 2xx counted by the Lua `response` hook
    sent: int = 0              # requests built by the Lua `request` hook
    raw: str = ""
    extra: dict = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


# Appended to every Lua script: counts sent and 2xx requests per thread and
# prints the totals as one line in `done`.
LUA_COUNTERS = r"""
local threads = {}
local __prev_setup = setup
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
  if __prev_setup then __prev_setup(thread) end
end
ok_count = 0
sent_count = 0
c4xx = 0
c5xx = 0
function response(status, headers, body)
  if status >= 200 and status < 300 then ok_count = ok_count + 1
  elseif status >= 500 then c5xx = c5xx + 1
  elseif status >= 400 then c4xx = c4xx + 1 end
end
function done(summary, latency, requests)
  local ok, sent, e4, e5 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok_count")
    sent = sent + t:get("sent_count")
    e4 = e4 + t:get("c4xx")
    e5 = e5 + t:get("c5xx")
  end
  io.write(string.format("WHODID_COUNTS ok=%d sent=%d c4xx=%d c5xx=%d\n", ok, sent, e4, e5))
end
"""


def run_wrk(url: str, lua: str, *, connections: int = 64, threads: int = 2, seconds: float = 10,
            timeout: str = "10s") -> WrkResult:
    """wrk with a Lua script (whose `request` must increment `sent_count`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + "\n" + LUA_COUNTERS)
        path = f.name
    try:
        proc = subprocess.run(
            [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
             f"--timeout={timeout}", "-s", path, url],
            capture_output=True, text=True, timeout=seconds + 120,
        )
    finally:
        os.unlink(path)
    out = proc.stdout
    res = WrkResult(raw=out)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not m:
        raise RuntimeError(f"wrk failed:\n{out}\n{proc.stderr}")
    res.requests = int(m.group(1))
    res.seconds = _ms(m.group(2) + m.group(3)) / 1000
    res.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    res.p50_ms = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    res.p99_ms = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res.non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res.socket_errors = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"WHODID_COUNTS ok=(\d+) sent=(\d+) c4xx=(\d+) c5xx=(\d+)", out)
    if m:
        res.ok, res.sent = int(m.group(1)), int(m.group(2))
        res.extra["4xx"], res.extra["5xx"] = int(m.group(3)), int(m.group(4))
    return res


# ------------------------------------------------------------------ output


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (also readable in a terminal)."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)

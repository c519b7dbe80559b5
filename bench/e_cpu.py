"""`/e` in server CPU, in-process: whodid's ASGI app called directly (no
sockets, no uvicorn) with `--concurrency` requests in flight, the CPU time of
this process (user + system: the request, the writer, asyncpg) per request,
and optionally a cProfile of the same run. The PostgreSQL backends' CPU is
not in it (bench.ingest_single counts them); what is left out against a
served worker is uvicorn's parse and writes (bare_app's cost, ~30-50 µs).

    .venv/bin/python -m bench.e_cpu [--requests 20000] [--concurrency 32] [--rounds 3]
                                    [--profile out.prof] [--compare-ref main]

With --compare-ref the same runs go through the code of that git ref
(exported with git archive, in a child process), interleaved round by round."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def _lifespan(app, state: dict):
    """Start the app's lifespan; returns a coroutine function that stops it."""
    inbox: asyncio.Queue = asyncio.Queue()
    started = asyncio.get_running_loop().create_future()
    stopped = asyncio.get_running_loop().create_future()

    async def receive():
        return await inbox.get()

    async def send(message):
        if message["type"].startswith("lifespan.startup"):
            started.set_result(message)
        elif message["type"].startswith("lifespan.shutdown"):
            stopped.set_result(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    message = await started
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(message)

    async def stop():
        await inbox.put({"type": "lifespan.shutdown"})
        await stopped
        await task

    return stop


async def _get(app, state: dict, query: bytes) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/e", "raw_path": b"/e", "query_string": query, "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": state.copy(),
    }
    status = 0

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(url: str, key: str, requests: int, concurrency: int, rounds: int,
                   profile: str | None) -> list[dict]:
    from app.config import Settings
    from app.server import create_app

    out = []
    if True:
        settings = Settings.from_env()
        app = create_app(settings, dsn=url)
        state: dict = {}
        stop = await _lifespan(app, state)
        try:
            base = int(time.time()) - 40 * 86400
            counter = 0

            async def client(n: int, count: int) -> int:
                nonlocal counter
                bad = 0
                for _ in range(count):
                    counter += 1
                    q = (f"_k={key}&_p=u{n}-{counter % 5000}&_n=Viewed%20Site&_t={base + counter}&_d=1"
                         "&URL=https%3A%2F%2Fexample.com%2Fpricing&Campaign%20Source=google&Variant=B").encode()
                    if await _get(app, state, q) != 200:
                        bad += 1
                return bad

            await asyncio.gather(*(client(n, 50) for n in range(concurrency)))  # warm-up
            for rnd in range(rounds):
                prof = cProfile.Profile(time.process_time) if profile and rnd == rounds - 1 else None
                c0, t0 = time.process_time(), time.perf_counter()
                if prof:
                    prof.enable()
                bad = sum(await asyncio.gather(*(client(n, requests // concurrency) for n in range(concurrency))))
                if prof:
                    prof.disable()
                    prof.dump_stats(profile)
                c1, t1 = time.process_time(), time.perf_counter()
                done = requests // concurrency * concurrency
                out.append({"cpu_us": (c1 - c0) / done * 1e6, "wall_us": (t1 - t0) / done * 1e6, "bad": bad,
                            "profiled": bool(prof)})
        finally:
            await stop()
    return out


def _child(args) -> None:
    import uvloop

    from app.logs import setup_logging
    from bench.common import create_project, fresh_database

    # As `whodid serve` does (its stderr is a file here, as the benchmarks' servers' logs are).
    setup_logging(os.environ.get("WHODID_LOG_FORMAT", "text"))
    with fresh_database("whodid_bench_ecpu") as url:
        key = create_project(url)["writeKey"]
        result = uvloop.run(_measure(url, key, args.requests, args.concurrency, args.rounds, args.profile))
    print("RESULT " + json.dumps(result), flush=True)


def _run(tree: Path, args, rounds: int, profile: str | None) -> list[dict]:
    # As `whodid serve --workers 2` runs a worker: its metrics in files (PROMETHEUS_MULTIPROC_DIR).
    metrics_dir = tempfile.mkdtemp(prefix="whodid-ecpu-metrics-")
    env = {**os.environ, "PYTHONPATH": f"{tree}:{ROOT}", "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
           "WHODID_ACCESS_LOG": os.environ.get("WHODID_ACCESS_LOG", "all")}
    cmd = [sys.executable, str(ROOT / "bench" / "e_cpu.py"), "--child", "--requests", str(args.requests),
           "--concurrency", str(args.concurrency), "--rounds", str(rounds)]
    if profile:
        cmd += ["--profile", profile]
    try:
        with tempfile.TemporaryFile("w+") as log:  # the access lines go here, as a server's log file
            proc = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
            for line in proc.stdout.splitlines():
                if line.startswith("RESULT "):
                    return json.loads(line[7:])
            log.seek(0)
            raise RuntimeError(log.read()[-3000:])
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", default=None, help="write a cProfile of the last round here")
    ap.add_argument("--compare-ref", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(args)
    from bench.common import exported_tree, median

    trees = [("this tree", ROOT)]
    with contextlib.ExitStack() as stack:
        if args.compare_ref:
            trees.insert(0, (args.compare_ref, stack.enter_context(exported_tree(args.compare_ref))))
        results: dict[str, list[dict]] = {name: [] for name, _ in trees}
        for rnd in range(args.rounds):
            for name, tree in trees:
                profile = args.profile if (rnd == args.rounds - 1 and name == "this tree") else None
                results[name] += _run(tree, args, 1, profile)
        os.system("uptime")
        for name, res in results.items():
            print(f"{name}: CPU µs/request median {median([r['cpu_us'] for r in res]):.1f} "
                  f"(rounds: {', '.join(format(r['cpu_us'], '.1f') for r in res)}), wall µs/request "
                  f"{median([r['wall_us'] for r in res]):.1f}, non-200: {sum(r['bad'] for r in res)}")


if __name__ == "__main__":
    main()

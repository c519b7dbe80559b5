"""Live fan-out in server CPU: what one delivery costs a server process, and
whether its event loop stalls on its own work or waits for a CPU.

    .venv/bin/python -m bench.live_cpu [--subscribers 1,50] [--rate 500] [--seconds 4] [--rounds 2]
                                       [--compare-ref main]

Each case runs whodid's app in ONE process (uvicorn, uvloop, in-process so
that its CPU time can be read exactly: user + system time of the process,
system calls included), on a fresh database, with the subscribers
(graphql-transport-ws, `liveEvents` unfiltered) and the sender (recordEvents
batches of 10) in child processes. Reported per case: the server's CPU
seconds from the first send until every subscriber has every event, and
per event; `µs/delivery` is the extra CPU per (event, extra subscriber)
against the 1-subscriber case of the same code and round. CPU time does not
depend much on what else runs on the machine, unlike throughput.

The loop monitor sleeps 5 ms in a loop inside the server: a wake-up later
than 50 ms is a stall; it counts as the server's own work when the thread
used more than half of that time on the CPU, else as waiting for a CPU
(other processes). With --compare-ref the code of that git ref runs the same
cases (exported with git archive; its `app` package is imported first)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sender(url: str, key: str, rate: float, total: int, out_q) -> None:
    from bench.live_fanout import send_all

    start, last_ack, *_ = asyncio.run(send_all(url, key, rate, total, 10))
    out_q.put(last_ack - start)


def _subscribers(*args) -> None:
    from bench.live_fanout import subscribers_main

    subscribers_main(*args)


def one_case(subscribers: int, rate: float, seconds: float) -> dict:
    """Runs inside the process whose app code is measured (PYTHONPATH)."""
    import gc

    import uvicorn
    import uvloop

    from app.server import create_app
    from bench.common import create_project, free_port, fresh_database

    total = int(rate * seconds)
    with fresh_database("whodid_bench_live_cpu") as dsn:
        keys = create_project(dsn)
        os.environ["DATABASE_URL"] = dsn
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on"))
        url = f"http://127.0.0.1:{port}"
        ctx = mp.get_context("spawn")
        out: dict = {}

        async def run() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            ready_q, subs_q, stop, sent_q = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Queue()
            subs = ctx.Process(target=_subscribers, args=(url, keys["readKey"], subscribers, total, ready_q, subs_q,
                                                          stop))
            subs.start()
            while ready_q.empty():
                await asyncio.sleep(0.05)
            stalls: list[tuple[float, float]] = []
            gc_pauses: list[float] = []
            started: dict = {}

            def on_gc(phase: str, info: dict) -> None:
                if phase == "start":
                    started["t"] = time.perf_counter()
                elif "t" in started:
                    gc_pauses.append((time.perf_counter() - started["t"]) * 1000)

            async def monitor() -> None:
                while True:
                    wall, cpu = time.perf_counter(), time.thread_time()
                    await asyncio.sleep(0.005)
                    late = (time.perf_counter() - wall) * 1000 - 5
                    if late > 50:
                        stalls.append((late, (time.thread_time() - cpu) * 1000))

            gc.callbacks.append(on_gc)
            watcher = asyncio.create_task(monitor())
            cpu0, wall0 = time.process_time(), time.monotonic()
            sender = ctx.Process(target=_sender, args=(url, keys["writeKey"], rate, total, sent_q))
            sender.start()
            deadline = time.monotonic() + 300
            while subs_q.empty() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            out["cpu"] = time.process_time() - cpu0
            out["wall"] = time.monotonic() - wall0
            watcher.cancel()
            gc.callbacks.remove(on_gc)
            stop.set()
            out["delivered"] = subs_q.get(timeout=30)[0] if not subs_q.empty() else 0
            out["stalls"] = len(stalls)
            out["own_stalls"] = sum(1 for late, cpu in stalls if cpu > 0.5 * late)
            out["gc_max_ms"] = max(gc_pauses, default=0.0)
            subs.join(10)
            sender.join(10)
            server.should_exit = True
            await task

        uvloop.install()
        asyncio.run(run())
    out.update(subscribers=subscribers, events=total)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,50")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare-ref", default=None)
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case is not None:
        tree = os.environ.get("WHODID_BENCH_APP_TREE")
        if tree:  # the app package from that tree (its submodules follow it), the bench from this one
            sys.path.insert(0, tree)
            import app

            sys.path.pop(0)
            assert Path(app.__file__).resolve().is_relative_to(Path(tree).resolve()), app.__file__
        print("RESULT " + json.dumps(one_case(int(args.case), args.rate, args.seconds)), flush=True)
        return

    from bench.common import exported_tree

    counts = [int(c) for c in args.subscribers.split(",")]
    with contextlib.ExitStack() as stack:
        trees = [(args.compare_ref, stack.enter_context(exported_tree(args.compare_ref)))] if args.compare_ref else []
        trees.append(("this tree", ROOT))
        rows: list[tuple[str, int, dict]] = []
        for r in range(args.rounds):
            for label, tree in trees:
                base = None
                for count in counts:
                    env = {**os.environ, "WHODID_BENCH_APP_TREE": str(tree)}
                    done = subprocess.run([sys.executable, "-m", "bench.live_cpu", "--case", str(count), "--rate",
                                           str(args.rate), "--seconds", str(args.seconds)],
                                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
                    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
                    if not line:
                        print(f"{label} {count}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                        continue
                    res = json.loads(line[0][7:])
                    if count == counts[0]:
                        base = res
                    extra = ""
                    if base is not None and count > base["subscribers"]:
                        per = (res["cpu"] - base["cpu"]) / (res["events"] * (count - base["subscribers"])) * 1e6
                        extra = f"  {per:6.1f} µs/delivery"
                    print(f"round {r + 1} {label:<12}{count:>4} subscribers: server CPU {res['cpu']:6.2f} s "
                          f"({res['cpu'] / res['events'] * 1e6:5.0f} µs/event){extra}; wall {res['wall']:5.1f} s; "
                          f"delivered {res['delivered']}/{res['events'] * count}; loop stalls > 50 ms: "
                          f"{res['stalls']} ({res['own_stalls']} on its own CPU work); longest GC pass "
                          f"{res['gc_max_ms']:.1f} ms (wall)", flush=True)
                    rows.append((label, count, res))


if __name__ == "__main__":
    main()

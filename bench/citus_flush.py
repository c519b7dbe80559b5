"""Single events through the writer, in process, on plain PostgreSQL and on a
Citus cluster side by side: `concurrency` tasks each call record_event in a
loop (one event per call, as /e and recordEvent do) for `seconds`; the
writer's group commits are all there is between them and the database.

Prints events/s, the mean events per flush, the mean flush time, the CPU per
event of the database's backends on every node and of the client process
(the steadier ratio on a shared machine: docs/benchmarks.md §16.6), and, with
--profile, each statement of the Citus flushes with its mean time (asyncpg's
query logger on the writer's connections).

    .venv/bin/python -m bench.citus_flush --citus postgresql://postgres@127.0.0.1:9700/postgres \\
        [--seconds 10] [--rounds 2] [--concurrency 32] [--keys/--no-keys] [--profile] [--compare-ref main] [--warmup 3]

Each measurement runs in a process of its own; `--compare-ref REF` adds, in
every round, the Citus measurement with the code of git REF (its files
exported, on a cluster database of its own migrated by REF's code: the
migrations may differ) between plain PostgreSQL and this tree's."""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import time
import uuid
from pathlib import Path

import psutil

from app.config import Settings
from app.ingest.validation import EventIn
from app.services import Services
from app.storage.pool import create_pool


def database_cpu(name: str) -> float:
    """CPU seconds so far of every PostgreSQL backend of the database `name`,
    on every node of this machine (a cluster's coordinator and workers: their
    process titles name the database)."""
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(name in part for part in proc.info["cmdline"] or ()):
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def measure(url: str, seconds: float, concurrency: int, keys: bool, profile: bool, warmup: float) -> dict:
    """Events/s over `seconds`, after `warmup` seconds of the same load that
    are not counted (each new connection's first statements: asyncpg's type
    introspection alone took ~1.3 s a connection on the loaded cluster)."""
    pool = await create_pool(url, min_size=8, max_size=8)  # every connection opened before the load
    services = Services.build(Settings(), pool)
    services.start()
    flushes: list[tuple[int, float]] = []
    counting = False
    started = 0.0

    def observe(size: int, elapsed: float) -> None:
        if counting:
            flushes.append((size, elapsed))

    services.writer.observers.append(observe)
    statements: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
    if profile:
        def logged(record) -> None:
            if counting:
                statements[" ".join(record.query.split())[:90]].append(record.elapsed)

    try:
        project = await services.auth.create_project(f"flush-{uuid.uuid4().hex[:6]}")
        sent = 0
        deadline = time.perf_counter() + warmup + seconds

        async def client(n: int) -> None:
            nonlocal sent
            i = 0
            while time.perf_counter() < deadline:
                await services.ingest.record_event(project.id, EventIn(
                    identity=f"user-{n}-{i % 50}", name="Viewed", properties={"URL": "/pricing", "n": i},
                    id=f"k-{n}-{i}" if keys else None))
                i += 1
                sent += counting

        async def start_counting() -> None:
            nonlocal counting, started
            await asyncio.sleep(warmup)
            if profile:
                for holder in pool._holders:  # (a benchmark: asyncpg's private list of connections)
                    if holder._con is not None:
                        holder._con.add_query_logger(logged)
            counting, started = True, time.perf_counter()
            cpu_from[:] = [database_cpu(database), own_cpu()]

        database = url.rpartition("/")[2]
        cpu_from: list[float] = []
        await asyncio.gather(start_counting(), *(client(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
        server_cpu, client_cpu = database_cpu(database) - cpu_from[0], own_cpu() - cpu_from[1]
    finally:
        await services.close()
        await pool.close()
    sizes = [s for s, _ in flushes] or [0]
    return {
        "events/s": round(sent / elapsed),
        "events/flush": round(sum(sizes) / len(sizes), 1),
        "flush ms": round(1000 * sum(e for _, e in flushes) / max(len(flushes), 1), 1),
        # CPU per event (µs): the database's backends on every node, and this process.
        "server us": round(1e6 * server_cpu / max(sent, 1)),
        "client us": round(1e6 * client_cpu / max(sent, 1)),
        "statements": {q: (len(v), round(1000 * sum(v) / len(v), 2)) for q, v in statements.items()},
    }


def measured(url: str, args, tree: Path | None = None, profile: bool = False) -> dict:
    """measure() in a process of its own, with the code of `tree` (this tree's when None)."""
    from bench import common

    command = ["--measure", url, "--seconds", str(args.seconds), "--warmup", str(args.warmup),
               "--concurrency", str(args.concurrency), "--keys" if args.keys else "--no-keys"]
    if profile:
        command.append("--profile")
    return common.measured_in_tree(Path(__file__).resolve(), command, tree)


def main() -> None:
    from bench import common

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citus", required=True, metavar="URL")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--keys", action=argparse.BooleanOptionalAction, default=True,
                    help="an idempotency key on every event (recordEvent's `id`)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compare-ref", default=None, metavar="REF")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of load before the measured ones")
    args = ap.parse_args()
    rows: list[list[int | float | str]] = []
    with contextlib.ExitStack() as stack:
        plain = stack.enter_context(common.fresh_database("whodid_bench_citus2"))
        citus = stack.enter_context(common.fresh_citus_database(args.citus, "whodid_bench_citus2_c"))
        sides = [("plain", plain, None), ("citus", citus, None)]
        if args.compare_ref:
            tree = stack.enter_context(common.exported_tree(args.compare_ref))
            ref_citus = stack.enter_context(common.fresh_citus_database(args.citus, "whodid_bench_citus2_r", tree=tree))
            sides.insert(1, (f"citus {args.compare_ref}", ref_citus, tree))
        for r in range(args.rounds):
            results = {name: measured(url, args, code, args.profile and name != "plain") for name, url, code in sides}
            plain_rate = max(results["plain"]["events/s"], 1)
            row: list[int | float | str] = [r + 1]
            for name, _, _ in sides:
                res = results[name]
                cpu = res["server us"] + res["client us"]
                row += [res["events/s"], res["events/flush"], res["flush ms"], f"{res['server us']} + {res['client us']}"]
                if name != "plain":
                    plain_cpu = results["plain"]["server us"] + results["plain"]["client us"]
                    row += [f"{res['events/s'] / plain_rate:.2f}", f"{plain_cpu / max(cpu, 1):.2f}"]
            rows.append(row)
            if args.profile:
                for name, _, _ in sides:
                    if name == "plain":
                        continue
                    print(f"{name}, round {r + 1}:")
                    for query, (count, ms) in sorted(results[name]["statements"].items(), key=lambda x: -x[1][0]):
                        print(f"  {count:6d} × {ms:7.2f} ms  {query}")
    header = ["round"]
    for name, _, _ in sides:
        header += [f"{name} ev/s", f"{name} ev/flush", f"{name} flush ms", f"{name} CPU µs/ev (db + client)"]
        if name != "plain":
            header += [f"{name}/plain ev/s", f"{name}/plain by CPU"]
    print(common.table(header, rows))


def worker() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--measure", required=True, metavar="URL")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--keys", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--warmup", type=float, default=3)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(measure(args.measure, args.seconds, args.concurrency, args.keys, args.profile,
                                         args.warmup))))


if __name__ == "__main__":
    if "--measure" in sys.argv:
        worker()
    else:
        main()

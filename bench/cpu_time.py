"""Statement shapes timed by CPU time, beside DuckDB (bench.cohort_shapes,
bench.funnel_shapes, bench.revenue_cpu).

On a machine shared with other work, wall time mostly measures waiting for a
core; the CPU a PostgreSQL backend spent on a statement (its
/proc/<pid>/schedstat, which counts only that process: parallel workers are
not in it) and DuckDB's process CPU time do not. DuckDB's CPU is divided by
its thread count to stand for its wall time on a quiet machine."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import asyncpg

from . import common


def backend_cpu_ns(pid: int) -> int:
    """CPU nanoseconds the process (a PostgreSQL backend) has run so far."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


@dataclass
class ShapeTimes:
    """Medians per (database index, shape) and for "duckdb", in ms."""
    cpu: dict[Any, list[float]] = field(default_factory=dict)
    wall: dict[Any, list[float]] = field(default_factory=dict)
    same: dict[Any, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)


async def time_shapes(
    dsns: list[str],
    statements: dict[str, tuple[str, list[Any]]],
    shapes: list[str],
    rounds: int,
    runs: int,
    duck: Callable[[], Any],
    prepare: Callable[[asyncpg.Connection, str], Awaitable[None]],
    judge: Callable[[int, str, list], str | None],
) -> ShapeTimes:
    """Each shape on each database and DuckDB, in interleaved rounds; a round
    keeps the median of `runs` runs after one warm-up. `prepare` sets a run's
    settings inside its read-only transaction; `judge` says whether a shape's
    rows are the expected answer (None: not compared)."""
    conns = [await asyncpg.connect(d) for d in dsns]
    pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    names = [(k, s) for k in range(len(conns)) for s in shapes]
    out = ShapeTimes(cpu={n: [] for n in [*names, "duckdb"]}, wall={n: [] for n in [*names, "duckdb"]})
    try:
        for _ in range(rounds):
            for k, s in names:
                sql, params = statements[s]
                cs, ws = [], []
                for i in range(runs + 1):
                    async with conns[k].transaction(isolation="repeatable_read", readonly=True):
                        await prepare(conns[k], s)
                        c0, t0 = backend_cpu_ns(pids[k]), time.perf_counter()
                        rows = await conns[k].fetch(sql, *params)
                        t1, c1 = time.perf_counter(), backend_cpu_ns(pids[k])
                    if i:
                        cs.append((c1 - c0) / 1e6)
                        ws.append((t1 - t0) * 1e3)
                verdict = judge(k, s, rows)
                if verdict is not None:
                    out.same[(k, s)] = verdict
                out.cpu[(k, s)].append(median(cs))
                out.wall[(k, s)].append(median(ws))
            cs, ws = [], []
            for i in range(runs + 1):
                c0, t0 = time.process_time_ns(), time.perf_counter()
                duck()
                t1, c1 = time.perf_counter(), time.process_time_ns()
                if i:
                    cs.append((c1 - c0) / 1e6)
                    ws.append((t1 - t0) * 1e3)
            out.cpu["duckdb"].append(median(cs))
            out.wall["duckdb"].append(median(ws))
        out.versions = [await c.fetchval("SHOW server_version") for c in conns]
    finally:
        for c in conns:
            await c.close()
    return out


def print_shapes(times: ShapeTimes, shapes: list[str], threads: int, rounds: int, runs: int,
                 same_header: str, duck_same: str) -> None:
    dc, dw = median(times.cpu["duckdb"]), median(times.wall["duckdb"])
    rows = []
    for k in range(len(times.versions)):
        for s in shapes:
            c, w = median(times.cpu[(k, s)]), median(times.wall[(k, s)])
            rows.append([f"PostgreSQL {times.versions[k]} (db {k + 1})", s, f"{c:.1f}", f"{w:.0f}",
                         f"{c / (dc / threads):.2f}", f"{w / dw:.2f}", times.same.get((k, s), "-")])
    rows.append([f"DuckDB ({threads} threads)", "", f"{dc:.1f}", f"{dw:.0f}", "1", "1", duck_same])
    print(f"medians of {rounds} interleaved rounds of the median of {runs} runs; DuckDB's quiet time taken as its"
          f" CPU time over its {threads} threads")
    print(common.table(["server", "shape", "CPU ms", "wall ms", "CPU / DuckDB CPU per thread", "wall / DuckDB wall",
                        same_header], rows))

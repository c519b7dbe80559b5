"""Revenue (and its topPeople), stickiness and lifecycle (and their
peopleLists) on a Citus cluster, each by its per-shard statement
(`build_per_shard` of its ReportKind: what ReportService runs there), against
plain PostgreSQL's own statement on the same world; the answers compared.

The world: bench.generate's (seed 42, `--events`, default 1,000,000), the one
bench.reports and bench.statements use. Plain PostgreSQL reads the kept
bench.statements database `whodid_bench_stmt_<--plain>` as it is (read-only);
the cluster gets the same generated rows COPYed into a database of its own
(`whodid_bench_citusrep_*`, distributed by `whodid migrate`), or reuses one
loaded before (`--citus-db URL`, printed by the run that loaded it with
`--keep`).

Each statement runs as the report service runs it: one connection, a
read-only REPEATABLE READ transaction with REPORT_SETTINGS (and on the
cluster SHARD_SETTINGS, which reach the workers); one warm-up run,
then `--runs` timed runs (client wall time), plain and cluster alternating.
The rows are compared exactly (Decimals by their text; lifecycle's periods in
any order). `--coordinator` also times the cluster's old path
(cluster.reads: the project's rows pulled to the coordinator), once, under
`--coordinator-timeout`.

CPU (the machine is shared: wall time mostly measures waiting for a core):
plain PostgreSQL's backend CPU for the statement with parallel workers off
(so that all of its work is in the backend: /proc/<pid>/schedstat), against
the cluster's: the coordinator's backend plus every backend of the cluster
database on the workers (their pg_stat_activity; the nodes run on this
machine), summed. Medians of `--runs`.

    .venv/bin/python -m bench.citus_revenue_stickiness_lifecycle --citus postgresql://postgres@127.0.0.1:9700/postgres \\
        [--events 1000000] [--plain nrspeed1m] [--citus-db URL | --keep] [--runs 3] [--coordinator]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any, Callable

import asyncpg

from app.reports.lifecycle import statement as lifecycle_sql
from app.reports.lifecycle.spec import LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from app.reports.periods import Period
from app.reports.population import Population
from app.reports.revenue import statement as revenue_sql
from app.reports.revenue.spec import RevenueSpec, TopPeopleSpec
from app.reports.service import REPORT_SETTINGS, SHARD_SETTINGS
from app.reports.stickiness import statement as stickiness_sql
from app.reports.stickiness.spec import StickinessPeopleSpec, StickinessSpec
from app.storage import cluster
from app.storage.filters import FilterOp, PropertyFilter
from app.storage.pool import init_connection

from . import common, generate, statements
from .cpu_time import backend_cpu_ns

Built = tuple[str, list[Any]]
# Plain PostgreSQL's CPU runs: every bit of the statement's work in its backend.
NO_PARALLEL = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"


def cases(start, end) -> list[tuple[str, Callable[[uuid.UUID], Built], Callable[[uuid.UUID], Built | None], bool]]:
    """(name, plain build, per-shard build, rows in any order), the reports as
    bench.reports asks for them."""
    revenue = RevenueSpec(start, end, Period.MONTH, "Campaign Source")
    variant_b = Population(properties=(PropertyFilter("Variant", FilterOp.EQ, "B"),))
    revenue_b = RevenueSpec(start, end, Period.MONTH, "Campaign Source", variant_b)
    sticky = StickinessSpec("Logged In", start, end, interval=Period.WEEK)
    life = LifecycleSpec("Logged In", start, end, interval=Period.WEEK)
    week20 = start + timedelta(weeks=20)
    return [
        ("revenue", lambda p: revenue_sql.build(p, revenue), lambda p: revenue_sql.build_per_shard(p, revenue), False),
        ("revenue, people Variant=B", lambda p: revenue_sql.build(p, revenue_b),
         lambda p: revenue_sql.build_per_shard(p, revenue_b), False),
        ("revenue topPeople (25)", lambda p: revenue_sql.build_top_people(p, TopPeopleSpec(revenue, 25)),
         lambda p: revenue_sql.build_top_people_per_shard(p, TopPeopleSpec(revenue, 25)), False),
        ("stickiness", lambda p: stickiness_sql.build(p, sticky), lambda p: stickiness_sql.build_per_shard(p, sticky),
         False),
        ("stickiness people (n=3, 25)", lambda p: stickiness_sql.build_people(p, StickinessPeopleSpec(sticky, 3, 25)),
         lambda p: stickiness_sql.build_people_per_shard(p, StickinessPeopleSpec(sticky, 3, 25)), False),
        ("lifecycle", lambda p: lifecycle_sql.build(p, life), lambda p: lifecycle_sql.build_per_shard(p, life), True),
        ("lifecycle people (NEW, week 20, 25)",
         lambda p: lifecycle_sql.build_people(p, LifecyclePeopleSpec(life, week20, LifecycleStatus.NEW, 25)),
         lambda p: lifecycle_sql.build_people_per_shard(p, LifecyclePeopleSpec(life, week20, LifecycleStatus.NEW, 25)),
         False),
    ]


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    await cluster.note_connection(conn)
    return conn


def comparable(rows, any_order: bool) -> list[tuple]:
    out = [tuple(("D", str(v)) if isinstance(v, Decimal) else v for v in r) for r in rows]
    return sorted(out, key=repr) if any_order else out


async def timed(conn, fetch, built: Built, timeout_ms: int = 900_000, per_shard: bool = True) -> tuple[float, list]:
    """One run inside the report service's transaction and settings (on the
    cluster with SHARD_SETTINGS, as the service runs a per-shard statement)."""
    sql, params = built
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(REPORT_SETTINGS, str(timeout_ms))
        if per_shard and cluster.on_citus(conn):
            await conn.execute(SHARD_SETTINGS.format(timeout=timeout_ms))
        started = time.perf_counter()
        rows = await fetch(sql, *params)
        return time.perf_counter() - started, rows


class ClusterCpu:
    """CPU nanoseconds of one coordinator connection and of every backend of
    its database on the workers (the coordinator's connections to them)."""

    def __init__(self, conn: asyncpg.Connection, workers: list[asyncpg.Connection]):
        self.conn, self.workers = conn, workers

    @classmethod
    async def open(cls, conn: asyncpg.Connection, url: str) -> ClusterCpu:
        database = url.rsplit("/", 1)[1]
        nodes = await conn.fetch("SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary'"
                                 " AND groupid <> 0")
        workers = [await asyncpg.connect(host=n["nodename"], port=n["nodeport"], user="postgres", database=database)
                   for n in nodes]
        return cls(conn, workers)

    async def pids(self) -> list[int]:
        out = [await self.conn.fetchval("SELECT pg_backend_pid()")]
        for w in self.workers:
            out += [r[0] for r in await w.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'")]
        return out

    async def cpu(self) -> dict[int, int]:
        out = {}
        for pid in await self.pids():
            try:
                out[pid] = backend_cpu_ns(pid)
            except OSError:
                pass
        return out

    async def close(self) -> None:
        for w in self.workers:
            await w.close()


async def cpu_ms(measure, conn, fetch, built: Built, settings: str | None = None) -> float:
    """CPU ms of one run (measure(): {pid: ns}; new backends count from 0)."""
    sql, params = built
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(REPORT_SETTINGS, "900000")
        if cluster.on_citus(conn):
            await conn.execute(SHARD_SETTINGS.format(timeout=900_000))
        if settings:
            await conn.execute(settings)
        before = await measure()
        await fetch(sql, *params)
        after = await measure()
    return sum(ns - before.get(pid, 0) for pid, ns in after.items()) / 1e6


async def load_citus(url: str, events: int, seed: int) -> uuid.UUID:
    ds = generate.generate(events=events, seed=seed)
    started = time.perf_counter()
    timings = await generate.load_database(url, ds, f"citus-{ds.project_id.hex[:8]}")
    print(f"loaded {len(ds.events):,} events into the cluster in {time.perf_counter() - started:.0f} s"
          f" ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})", flush=True)
    return ds.project_id


async def run(citus_url: str, plain_url: str, project: uuid.UUID, runs: int, coordinator: bool,
              coordinator_timeout: float, only: list[str] | None) -> None:
    citus, plain = await connect(citus_url), await connect(plain_url)
    cluster_cpu = await ClusterCpu.open(citus, citus_url)
    plain_pid = await plain.fetchval("SELECT pg_backend_pid()")

    async def plain_cpu() -> dict[int, int]:
        return {plain_pid: backend_cpu_ns(plain_pid)}

    try:
        print(f"{'report':38} {'plain PostgreSQL (runs)':28} {'Citus per shard (runs)':28} ratio  answers", flush=True)
        for name, build, per_shard, any_order in cases(generate.START, generate.END):
            if only and not any(o in name for o in only):
                continue
            shard_built = per_shard(project)
            assert shard_built is not None, name
            plain_built = build(project)
            await timed(plain, plain.fetch, plain_built)  # warm-up
            await timed(citus, citus.fetch, shard_built)
            p_runs, c_runs, equal = [], [], True
            for _ in range(runs):
                t, rows = await timed(plain, plain.fetch, plain_built)
                p_runs.append(t)
                expected = comparable(rows, any_order)
                t, rows = await timed(citus, citus.fetch, shard_built)
                c_runs.append(t)
                equal = equal and comparable(rows, any_order) == expected
            p, c = statistics.median(p_runs), statistics.median(c_runs)
            p_cpu = statistics.median([await cpu_ms(plain_cpu, plain, plain.fetch, plain_built, NO_PARALLEL)
                                       for _ in range(runs)])
            c_cpu = statistics.median([await cpu_ms(cluster_cpu.cpu, citus, citus.fetch, shard_built)
                                       for _ in range(runs)])
            line = (f"{name:38} {', '.join(f'{t:.3f}' for t in p_runs):28} {', '.join(f'{t:.3f}' for t in c_runs):28}"
                    f" {c / p:5.2f}  {'equal' if equal else 'DIFFERENT'} ({len(expected)} rows);"
                    f" CPU plain {p_cpu:.0f} ms, cluster {c_cpu:.0f} ms ({c_cpu / p_cpu:.2f})")
            if coordinator:
                try:
                    t, rows = await timed(citus, cluster.reads(citus).fetch, plain_built,
                                          int(coordinator_timeout * 1000), per_shard=False)
                    line += f"; coordinator path {t:.2f} s, " + (
                        "equal" if comparable(rows, any_order) == expected else "DIFFERENT")
                except asyncpg.QueryCanceledError:
                    line += f"; coordinator path > {coordinator_timeout:g} s (cancelled)"
            print(line, flush=True)
    finally:
        await cluster_cpu.close()
        await citus.close()
        await plain.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citus", required=True, metavar="URL", help="the coordinator (its admin database)")
    ap.add_argument("--citus-db", default=None, metavar="URL", help="a cluster database loaded before (--keep)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster database loaded here")
    ap.add_argument("--plain", default="nrspeed1m", help="the kept bench.statements data set (read-only)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated substrings of the report names")
    ap.add_argument("--coordinator", action="store_true", help="also the coordinator's path, once (slow)")
    ap.add_argument("--coordinator-timeout", type=float, default=120.0)
    args = ap.parse_args()
    only = args.only.split(",") if args.only else None
    with statements.dataset(args.events, args.seed, args.plain, read_only=True) as (plain_url, project, _):
        with contextlib.ExitStack() as stack:
            citus_url = args.citus_db
            if citus_url is None:
                citus_url = stack.enter_context(
                    common.fresh_citus_database(args.citus, "whodid_bench_citusrep", keep=args.keep))
                print(f"cluster database: {citus_url}", flush=True)
                loaded = asyncio.run(load_citus(citus_url, args.events, args.seed))
                assert loaded == project
            asyncio.run(run(citus_url, plain_url, project, args.runs, args.coordinator, args.coordinator_timeout, only))


if __name__ == "__main__":
    main()

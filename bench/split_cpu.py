"""The CPU a report's parts cost (ReportKind.build_parts, docs/benchmarks.md
§19.2): per report, the one statement run serially on one backend
(max_parallel_workers_per_gather = 0: all its CPU in that backend's
/proc/<pid>/schedstat) against the sum of the two backends' CPU of the split
run as bench.statements --split times it (the export, the other
transaction's BEGIN, SET TRANSACTION SNAPSHOT and settings, both parts).
Median of `--runs` after one warm-up, on a kept bench database.

    .venv/bin/python -m bench.split_cpu [--db whodid_bench_stmt_nrspeed1m] [--reports cohort,lifecycle,stickiness]
        [--runs 7]"""
from __future__ import annotations

import argparse
import asyncio
import statistics

from . import common, generate, statements
from .cpu_time import backend_cpu_ns


async def measure(url: str, kinds: tuple[str, ...], runs: int) -> dict[str, tuple[float, float]]:
    """{report: (one statement's serial CPU ms, the split's CPU ms over both backends)}."""
    from app.reports.service import REPORT_SETTINGS
    from app.storage.pool import connect

    conns = [await connect(url) for _ in range(2)]
    pids = [c.get_server_pid() for c in conns]
    out = {}
    try:
        project_id = await conns[0].fetchval("SELECT id FROM projects LIMIT 1")
        for kind, (report, spec) in statements.split_kinds(generate.START, generate.END, 10, kinds).items():
            assert report.build_parts is not None
            sql, params = report.build(project_id, spec)
            parts = report.build_parts(project_id, spec, 2)
            one: list[int] = []
            split: list[int] = []
            for _ in range(runs + 1):
                async with conns[0].transaction(isolation="repeatable_read", readonly=True):
                    await conns[0].execute(REPORT_SETTINGS, "900000")
                    await conns[0].execute("SET LOCAL max_parallel_workers_per_gather = 0")
                    if report.settings:
                        await conns[0].execute(report.settings)
                    before = backend_cpu_ns(pids[0])
                    await conns[0].fetch(sql, *params)
                    one.append(backend_cpu_ns(pids[0]) - before)
                before = sum(backend_cpu_ns(p) for p in pids)
                await statements._split_fetch(conns, parts, statements._split_settings(report))
                split.append(sum(backend_cpu_ns(p) for p in pids) - before)
            out[kind] = (statistics.median(one[1:]) / 1e6, statistics.median(split[1:]) / 1e6)
    finally:
        for c in conns:
            await c.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="whodid_bench_stmt_nrspeed1m")
    ap.add_argument("--reports", default="cohort,lifecycle,stickiness")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    got = asyncio.run(measure(common.db_url(args.db), tuple(args.reports.split(",")), args.runs))
    print(common.table(["report", "one statement CPU ms (serial)", "split CPU ms (2 backends)", "split / one"],
                       [[k, f"{a:.1f}", f"{b:.1f}", f"{b / a:.3f}"] for k, (a, b) in got.items()]))


if __name__ == "__main__":
    main()

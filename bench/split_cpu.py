"""The CPU a report's parts cost (ReportKind.build_parts, docs/benchmarks.md
§19.2): per report, the one statement run serially on one backend
(max_parallel_workers_per_gather = 0: all its CPU in that backend's
/proc/<pid>/schedstat) against the sum of the two backends' CPU of the split
run as bench.statements --split times it (the export, the other
transaction's BEGIN, SET TRANSACTION SNAPSHOT and settings, both parts).
Median of `--runs` after one warm-up, on a kept bench database.

`--from-days 0,7,182`: the reports' range starting that many days after the
data set's start (0: the year every bench report covers), one row each.
`--compare-ref REF`: the app code of git REF measured the same way in a
process of its own, before this tree's, in each of `--rounds` rounds
(medians over the rounds).

    .venv/bin/python -m bench.split_cpu [--db whodid_bench_stmt_nrspeed1m] [--reports cohort,lifecycle,stickiness]
        [--runs 7] [--from-days 0] [--compare-ref REF --rounds 3]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from datetime import timedelta
from pathlib import Path

import orjson

# Absolute imports: run as a script by --compare-ref (common.measured_in_tree).
from bench import common, generate, statements
from bench.cpu_time import backend_cpu_ns


async def measure(url: str, kinds: tuple[str, ...], runs: int, from_days: int = 0) -> dict[str, tuple[float, float]]:
    """{report: (one statement's serial CPU ms, the split's CPU ms over both
    backends)}, over the range from `from_days` after the data's start."""
    from app.reports.service import REPORT_SETTINGS
    from app.storage.pool import connect

    conns = [await connect(url) for _ in range(2)]
    pids = [c.get_server_pid() for c in conns]
    out = {}
    try:
        project_id = await conns[0].fetchval("SELECT id FROM projects LIMIT 1")
        start = generate.START + timedelta(days=from_days)
        for kind, (report, spec) in statements.split_kinds(start, generate.END, 10, kinds).items():
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
    ap.add_argument("--from-days", default="0", help="comma-separated: days after the data's start the range begins")
    ap.add_argument("--compare-ref", default=None, help="also measure the app code of this git ref")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one process's figures (--compare-ref)
    args = ap.parse_args()
    kinds, offsets = tuple(args.reports.split(",")), [int(d) for d in args.from_days.split(",")]
    if args.json:
        got = {str(d): asyncio.run(measure(common.db_url(args.db), kinds, args.runs, d)) for d in offsets}
        print(orjson.dumps(got).decode())
        return
    passed = [a for a in sys.argv[1:] if not a.startswith("--compare-ref") and a != args.compare_ref]
    trees = [("this tree", None)]
    rows: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    with contextlib.ExitStack() as stack:
        if args.compare_ref:
            trees.insert(0, (args.compare_ref, stack.enter_context(common.exported_tree(args.compare_ref))))
        for _ in range(args.rounds):
            for name, tree in trees:
                got = common.measured_in_tree(Path(__file__), [*passed, "--json"], tree)
                for d, per_kind in got.items():
                    for kind, (one, split) in per_kind.items():
                        rows.setdefault((kind, d, name), []).append((one, split))
    print(common.table(
        ["report", "from + days", "code", "one statement CPU ms (serial)", "split CPU ms (2 backends)", "split / one"],
        [[kind, d, name, f"{statistics.median(o for o, _ in v):.1f}", f"{statistics.median(s for _, s in v):.1f}",
          f"{statistics.median(s for _, s in v) / statistics.median(o for o, _ in v):.3f}"]
         for (kind, d, name), v in rows.items()]))


if __name__ == "__main__":
    main()

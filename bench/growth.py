"""How report time grows with data: the funnel and the cohort of
bench/reports.py (cold, over HTTP, cache off) at 100k, 1M and 5M events, each
beside DuckDB on the same rows. Each size is a fresh database loaded by binary
COPY and then `VACUUM (ANALYZE)`, the state autovacuum keeps a live database
in (bench/generate.py; 5M events take a few minutes to generate and load).

"No worse than linear": time per million events should not grow with size
(the last column: seconds per million events, relative to the smallest size).

    .venv/bin/python -m bench.growth [--sizes 100000,1000000,5000000] [--rounds 3] [--quick]
        [--reports funnel,cohort]   (any of bench/reports.py's KINDS)"""
from __future__ import annotations

import argparse

from . import common, reports


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: 10k and 40k events, 1 round")
    ap.add_argument("--reports", default="funnel,cohort", help=f"some of {','.join(reports.KINDS)}")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.rounds = "10000,40000", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = tuple(k for k in reports.KINDS if k in args.reports.split(","))
    figures = {}
    for size in sizes:
        print(f"== {size:,} events", flush=True)
        figures[size] = reports.run(size, args.rounds, 0, False, kinds=kinds)
    rows = []
    base: dict[str, float] = {}  # report: its cold seconds per million events at the first size
    for size in sizes:
        res = figures[size]
        for kind in kinds:
            r = res["reports"][kind]
            per_million = r["cold_s"] / (res["events"] / 1e6)
            base.setdefault(kind, per_million)
            rows.append([kind, f"{res['events']:,}", f"{r['cold_s'] * 1000:,.0f}", f"{r['duckdb_s'] * 1000:,.0f}",
                         f"{r['cold_s'] / r['duckdb_s']:.1f}", f"{per_million:.2f}",
                         f"{per_million / base[kind]:.2f}", "yes" if not r["diff"] else "NO",
                         " / ".join(f"{v:.0f}" for v in res["rss_mb"][:2])])
    rows.sort(key=lambda r: (r[0], int(r[1].replace(",", ""))))
    print(f"\ncold (cache off), median of {args.rounds}, over HTTP, tables vacuumed after the load;"
          " DuckDB in-process on the same rows")
    print(common.table(["report", "events", "whodid ms", "DuckDB ms", "whodid / DuckDB", "whodid s per M events",
                        "growth vs smallest (1.00 = linear)", "same answer", "peak RSS MB per worker"], rows))


if __name__ == "__main__":
    main()

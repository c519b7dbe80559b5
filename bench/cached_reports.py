"""Cached reports over HTTP, every report: p50/p99 of `wrk -c1 -t1` against
`whodid serve --workers 2` with the report cache in Redis (as bench.reports
measures "cached"), after one warming request, for funnel, cohort, revenue,
trends, stickiness, lifecycle and paths on bench/generate's data set (the
answers' sizes matter, not the data's: a cached answer runs no statement).

`--compare-ref REF` also serves the code of git REF on the same database and
Redis, interleaved report by report and round by round (before/after in the
same run). The CPU time of the server's workers per request (psutil) is
the steadier figure on a busy machine. `--memory`: the in-process cache instead of Redis.

    .venv/bin/python -m bench.cached_reports [--events 20000] [--seconds 3] [--rounds 3] [--compare-ref main]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

import orjson

from . import common, generate
from .reports import Client, cached_latency, iso, requests

TRENDS_QUERY = """query($i: TrendsInput!) { trends(input: $i) {
  series { index event math breakdownValue total points { start value } } computedAt cached } }"""
STICKINESS_QUERY = """query($i: StickinessInput!) { stickiness(input: $i) {
  intervals buckets { periods people } computedAt cached } }"""
KINDS = ("funnel", "cohort", "revenue", "trends", "stickiness", "lifecycle", "paths")


def all_requests() -> dict[str, tuple[str, dict]]:
    start, end = generate.START, generate.END
    found = requests(start, end)
    found["trends"] = (TRENDS_QUERY, {"i": {"from": iso(start), "to": iso(end), "interval": "WEEK", "series": [
        {"event": "Visited Site", "math": "PEOPLE"}, {"event": "Signed Up", "math": "TOTAL"}]}})
    found["stickiness"] = (STICKINESS_QUERY, {"i": {"event": "Logged In", "from": iso(start), "to": iso(end),
                                                    "interval": "WEEK"}})
    return {kind: found[kind] for kind in KINDS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare-ref", default=None)
    ap.add_argument("--memory", action="store_true", help="the in-process report cache, not Redis")
    ap.add_argument("--reports", default=",".join(KINDS))
    args = ap.parse_args()
    kinds = [k for k in args.reports.split(",") if k]

    ds = generate.generate(events=args.events, seed=42)
    name = f"cached-{ds.project_id.hex[:8]}"
    env = {"WHODID_REPORT_TTL": "3600"}
    if not args.memory:
        env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    results: dict[tuple[str, str], list[common.WrkResult]] = {}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(common.fresh_database("whodid_bench_cached"))
        asyncio.run(generate.load_database(url, ds, name))
        keys = orjson.loads(os.popen(f"DATABASE_URL={url} {common.VENV_BIN / 'whodid'} project rotate-keys {name}"
                                     " --json").read())
        servers = []
        if args.compare_ref:
            tree = stack.enter_context(common.exported_tree(args.compare_ref))
            servers.append((args.compare_ref, stack.enter_context(
                common.whodid_server(url, env=env, tree=tree, name="ref"))))
        servers.append(("this tree", stack.enter_context(common.whodid_server(url, env=env, name="tree"))))
        wanted = all_requests()
        for label, server in servers:
            client = Client(server.port, keys["readKey"])
            for kind in kinds:
                answer, _ = client.post(*wanted[kind])
                again, _ = client.post(*wanted[kind])
                assert again["cached"] is True, (label, kind, again)
        for rnd in range(args.rounds):
            for kind in kinds:
                for label, server in servers:
                    workers = server.workers()
                    with common.CpuMeter({"server": lambda: workers}) as cpu:
                        res = cached_latency(server, keys["readKey"], *wanted[kind], args.seconds)
                    res.extra["cpu"] = cpu.per_request_us(res.requests)["server"]
                    assert res.non2xx + res.socket_errors == 0, res.raw
                    results.setdefault((kind, label), []).append(res)
                    print(f"  round {rnd + 1} {kind} {label}: p50 {res.p50_ms:.2f} ms p99 {res.p99_ms:.2f} ms"
                          f" {res.rps:,.0f}/s, {res.extra['cpu']:.0f} µs CPU", flush=True)
    rows = []
    for (kind, label), res in results.items():
        rows.append([kind, label, common.median([r.p50_ms for r in res]), common.median([r.p99_ms for r in res]),
                     common.median([r.rps for r in res]), common.median([r.extra["cpu"] for r in res])])
    cache = "memory" if args.memory else "Redis"
    print(f"\ncached reports, wrk -c1 -t1, {args.seconds:g} s per run, median of {args.rounds} round(s),"
          f" {len(ds.events):,} events, report cache in {cache}; 2 uvicorn workers")
    print(common.table(["report", "code", "cached p50 ms", "cached p99 ms", "requests/s",
                        "server CPU µs per request"], rows))


if __name__ == "__main__":
    main()

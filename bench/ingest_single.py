"""One event per request: 64 concurrent keep-alive clients (wrk, 2 threads)
against `whodid serve --workers 2`, beside bench/bare_app.py served the same
way (uvicorn --workers 2, uvloop, httptools), which answers without touching
anything.

  whodid /e            Kissmetrics GET /e?_k=…&_p=…&_n=…&_t=…&_d=1&URL=…  (the pixel)
  whodid recordEvent   GraphQL recordEvent with an idempotency `id`
  bare GET /e          the same GIF, nothing else (the floor of /e)
  bare POST /graphql   reads the same body, answers a fixed JSON (the floor of recordEvent)

Every request names a unique event (`_d=1` with a distinct `_t` per identity;
a distinct GraphQL `id`), 5,000 identities per wrk thread. After each run the
events of that run's project are counted in PostgreSQL: every acknowledged
(2xx, counted by the Lua `response` hook) request must be stored. wrk drops
the requests in flight when it stops (at most one per connection); the server
still commits those, so stored - acked is between 0 and 64, never negative.

Cases run one after the other, side by side, in each of `--rounds` rounds
(fresh project per round); medians are reported. A case during which
PostgreSQL restarted (other people share it) is run again. Peak RSS of each
worker is sampled with psutil. `--compare-ref REF` also serves the code of git
REF (e.g. HEAD: before uncommitted changes) the same way, for before/after.

    .venv/bin/python -m bench.ingest_single [--seconds 10] [--rounds 3] [--compare-ref HEAD] [--quick]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time

import asyncpg

from . import common

IDENTITIES = 5000  # distinct identities per wrk thread

KM_LUA = r"""
counter = 0
base = %(base)d
request = function()
  counter = counter + 1
  sent_count = counter
  local path = "/e?_k=%(key)s&_p=%(run)s-u" .. tid .. "-" .. (counter %% %(ids)d) ..
    "&_n=Viewed%%20Site&_t=" .. (base + counter) .. "&_d=1&URL=https%%3A%%2F%%2Fexample.com%%2Fpricing" ..
    "&Campaign%%20Source=google&Variant=B"
  return wrk.format("GET", path)
end
"""

GQL_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
counter = 0
request = function()
  counter = counter + 1
  sent_count = counter
  local body = '{"query":"mutation R($i: RecordEventInput!) { recordEvent(input: $i) { duplicate event { id } } }",' ..
    '"variables":{"i":{"identity":"%(run)s-u' .. tid .. '-' .. (counter %% %(ids)d) .. '","name":"Viewed Site",' ..
    '"id":"%(run)s-' .. tid .. '-' .. counter .. '",' ..
    '"properties":{"URL":"https://example.com/pricing","Campaign Source":"google","Variant":"B"}}}}'
  return wrk.format(nil, "/graphql", nil, body)
end
"""

BARE_GET_LUA = r"""
counter = 0
request = function()
  counter = counter + 1
  sent_count = counter
  return wrk.format("GET", "/e?_k=x&_p=u" .. tid .. "-" .. counter .. "&_n=Viewed%20Site&_t=" .. counter ..
    "&_d=1&URL=https%3A%2F%2Fexample.com%2Fpricing&Campaign%20Source=google&Variant=B")
end
"""


async def _stored(url: str, project_id: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project_id)
    finally:
        await conn.close()


def stored(url: str, project_id: str) -> int:
    return asyncio.run(_stored(url, project_id))


def measure(server: common.Server, lua: str, path: str, seconds: float, connections: int, db: str | None = None):
    """One wrk run with the workers' RSS sampled and the CPU time of the
    workers, of the database's PostgreSQL backends (`db`) and of wrk counted;
    repeated (twice at most) when PostgreSQL restarted meanwhile."""
    workers = server.workers()
    groups = {"server": lambda: workers}
    if db is not None:
        groups["postgres"] = lambda: common.database_backends(db)
    for _ in range(3):
        started = common.postmaster_started()
        flushed = common.writer_groups(server.base) if db is not None else None
        with common.RssSampler(workers) as rss, common.CpuMeter(groups) as cpu:
            res = common.run_wrk(server.base + path, lua, connections=connections, seconds=seconds)
        if common.postmaster_started() == started:
            res.extra["rss"] = rss.peak_mb()
            res.extra["cpu"] = cpu.per_request_us(res.requests)
            if flushed is not None:
                items, commits = (after - before for after, before in zip(common.writer_groups(server.base), flushed))
                res.extra["group"] = items / commits if commits else None
            return res
        print(f"  (PostgreSQL restarted during {server.name} {path}: run again)", flush=True)
    raise RuntimeError("PostgreSQL kept restarting")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--compare-ref", default=None, help="also serve this git ref (e.g. HEAD), as 'before'")
    ap.add_argument("--citus", default=None, metavar="URL",
                    help="also serve a database on this Citus coordinator (../shared/tools/citus-cluster)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 s, 1 round")
    ap.add_argument("--access-log", choices=["all", "errors", "off"], default=None,
                    help="WHODID_ACCESS_LOG for every whodid server (default: the servers' own default)")
    ap.add_argument("--workers", type=int, default=2, help="whodid's (and bare's) worker processes")
    ap.add_argument("--only", choices=["e", "graphql"], default=None,
                    help="only the /e cases (bare GET /e, whodid /e) or only the GraphQL ones")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2, 1

    results: dict[str, list[common.WrkResult]] = {}
    durability: list[str] = []
    with contextlib.ExitStack() as stack:
        bare = stack.enter_context(common.bare_server(workers=args.workers))
        env = {"WHODID_ACCESS_LOG": args.access_log} if args.access_log else None
        whodids = common.whodid_servers(stack, args.compare_ref, args.citus, workers=args.workers, env=env)

        for rnd in range(args.rounds):
            run = f"r{rnd}"
            base = int(time.time()) - 40 * 86400
            # (name, server, wrk script, path, database url and project id: None for the bare server)
            cases: list[tuple[str, common.Server, str, str, str | None, str | None]] = []
            if args.only != "graphql":
                cases.append(("bare GET /e", bare, BARE_GET_LUA, "/e", None, None))
            # ABBA: the servers' order alternates by round, so that neither always
            # runs right after the other's inserts (autovacuum, checkpoints).
            ordered = whodids if rnd % 2 == 0 else whodids[::-1]
            for label, server, db in (ordered if args.only != "graphql" else []):
                project = common.create_project(db)
                fill = {"key": project["writeKey"], "run": run, "ids": IDENTITIES, "base": base}
                suffix = f" ({label})" if label else ""
                cases.append((f"whodid /e{suffix}", server, KM_LUA % fill, "/e", db, project["id"]))
            if args.only != "e":
                cases.append(("bare POST /graphql", bare, GQL_LUA % {"key": "x", "run": run, "ids": IDENTITIES},
                              "/graphql", None, None))
            for label, server, db in (ordered if args.only != "e" else []):
                project = common.create_project(db)
                fill = {"key": project["writeKey"], "run": run + "g", "ids": IDENTITIES, "base": base}
                suffix = f" ({label})" if label else ""
                cases.append((f"whodid recordEvent{suffix}", server, GQL_LUA % fill, "/graphql", db, project["id"]))

            for name, server, lua, path, db, project_id in cases:
                res = measure(server, lua, path, args.seconds, args.connections, db)
                if db is not None:
                    time.sleep(0.5)  # the requests wrk abandoned at the end still commit
                    count = stored(db, project_id)
                    res.extra["stored"] = count
                    res.extra["lost"] = max(0, res.ok - count)
                    durability.append(
                        f"{name}, round {rnd + 1}: acked {res.ok}, stored {count}"
                        f" (in flight when wrk stopped: {count - res.ok}), 4xx {res.extra.get('4xx', 0)},"
                        f" 5xx {res.extra.get('5xx', 0)}, socket errors {res.socket_errors}"
                        + ("" if res.extra["lost"] == 0 else f"  ** {res.extra['lost']} ACKED EVENTS MISSING **"))
                results.setdefault(name, []).append(res)
                print(f"  round {rnd + 1} {name}: {res.rps:,.0f}/s p50 {res.p50_ms:.1f} ms p99 {res.p99_ms:.1f} ms",
                      flush=True)

    floor = {"/e": common.median([r.rps for r in results.get("bare GET /e", [])]),
             "graphql": common.median([r.rps for r in results.get("bare POST /graphql", [])])}
    rows = []
    for name, res in results.items():
        rps = common.median([r.rps for r in res])
        kind = "/e" if "/e" in name else "graphql"
        bare_case = name.startswith("bare")
        rows.append([
            name, rps, "1.00" if bare_case else f"{rps / floor[kind]:.2f}",
            "-" if bare_case or not floor["/e"] else f"{rps / floor['/e']:.2f}",
            common.median([r.p50_ms for r in res]), common.median([r.p99_ms for r in res]),
            sum(r.non2xx + r.socket_errors for r in res),
            "-" if bare_case else f"{sum(r.extra['stored'] for r in res)} / {sum(r.ok for r in res)}",
            "-" if bare_case else str(sum(r.extra["lost"] for r in res)),
            "-" if bare_case else " / ".join(f"{max(v):.0f}" for v in zip(*(r.extra["rss"] for r in res))),
        ])
    print(f"\n{args.connections} keep-alive connections, wrk -t2, {args.seconds:.0f} s per run, median of "
          f"{args.rounds} round(s); {args.workers} uvicorn worker(s) each; ratio = whodid / its bare floor served the same way")
    print(common.table(["case", "events/s", "ratio to bare", "ratio to bare GET /e", "p50 ms", "p99 ms",
                        "errors", "stored / acked", "acked lost", "peak RSS MB per worker"], rows))
    print("\ndurability, per run (events counted in PostgreSQL afterwards):")
    for line in durability:
        print("  " + line)

    # Where the 2 cores go, per request (µs of CPU, medians): the server's
    # workers, the PostgreSQL backends of the run's database, wrk. The
    # ceiling is what the cores could serve if whodid's front cost what the
    # bare endpoint's does and only PostgreSQL's work were added.
    cores = os.cpu_count() or 1
    cpu_rows = []
    for name, res in results.items():
        per = [r.extra["cpu"] for r in res]
        server_us = common.median([p["server"] for p in per])
        pg_us = common.median([p.get("postgres") for p in per])
        wrk_us = common.median([p["load generator"] for p in per])
        group = common.median([r.extra.get("group") for r in res])
        cpu_rows.append([name, f"{server_us:.0f}", "-" if pg_us is None else f"{pg_us:.0f}", f"{wrk_us:.0f}",
                         "-" if group is None else f"{group:.1f}", pg_us])
    bare_cost = {row[0]: (float(row[1]), float(row[3])) for row in cpu_rows if row[0].startswith("bare")}
    table_rows = []
    for row in cpu_rows:
        pg_us = row.pop()
        if pg_us is None:
            row.append("-")
        else:
            front, load = bare_cost["bare GET /e" if "/e" in row[0] else "bare POST /graphql"]
            ceiling = cores * 1e6 / (front + load + pg_us)
            row.append(f"{ceiling:,.0f}/s")
        table_rows.append(row)
    print(f"\nCPU per request, µs (median of rounds; {cores} cores for everything)")
    print(common.table(["case", "server workers", "PostgreSQL backends", "wrk", "events per group commit",
                        "ceiling: bare front + PostgreSQL"], table_rows))


if __name__ == "__main__":
    main()

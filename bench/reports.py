"""Reports on generated data (bench/generate.py, default ~1,000,000 events),
over HTTP against `whodid serve --workers 2`, beside DuckDB computing the same
semantics in-process over the same rows (bench/duckdb_reports.py):

  funnel   4 steps (Visited Site → Viewed Pricing → Signed Up → Subscribed)
           over the whole year, 14-day conversion window, segmented by the
           first step's "Campaign Source" (limit 10)
  cohort   Signed Up → Logged In, 12 weekly cohorts × 12 weekly cells
  revenue  the year by month, by first-touch "Campaign Source"
  lifecycle  "Logged In" by WEEK over the year
  paths    from "Visited Site" over the year, depth 4, limit 10
  trends   people who visited, logins and the sum of Revenue on bills, per
           DAY over the year, broken down by the person's Variant
  stickiness  weeks with a "Logged In" over the year

The data are loaded by binary COPY and then `VACUUM (ANALYZE)` (bench/generate.py
`load`): the state autovacuum keeps a live database in (pages all-visible, so
index-only scans skip the table), not the state straight after a bulk load.

- cold: a server with WHODID_REPORT_TTL=0 (nothing is cached: every request
  computes), median of `--rounds` requests, client wall time over HTTP;
- cached: a second server sharing its cache through Redis (as several workers
  would), after one warming request; p50/p99 of wrk -c1 for `--cached-seconds`;
- DuckDB: median of `--rounds` runs of the query in-process (data loaded in
  memory beforehand), with DuckDB's default threads (= cores);
- the answers are compared: funnel step counts overall and per segment, every
  cohort row size and cell, revenue totals, paying people, the monthly series
  and the by-source slices.

`--one-statement`: a third server with WHODID_REPORT_PARTS=1 (cohort and
lifecycle as one statement on one connection, not split over two: the
`cold` server's default) timed in alternation with the cold one, each round
one request to each (docs/benchmarks.md §19.2).

Peak RSS of each worker of both servers is sampled throughout. `--explain`
prints EXPLAIN (ANALYZE, BUFFERS) of each report's statement as whodid runs it.

    .venv/bin/python -m bench.reports [--events 1000000] [--rounds 3] [--explain] [--quick] [--one-statement]
        [--reports funnel,cohort,revenue,lifecycle,paths,trends,stickiness]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson

from . import common, duckdb_reports, generate

FUNNEL_STEPS = ["Visited Site", "Viewed Pricing", "Signed Up", "Subscribed"]
WINDOW = 14 * 86400
SEGMENT = "Campaign Source"
COHORT_FROM = generate.START + timedelta(weeks=20)
COHORT_TO = COHORT_FROM + timedelta(weeks=12)
WEEK = 7 * 86400
# lifecycle (WEEK over the year) and paths (from the first visit, depth 4, limit 10)
LIFECYCLE_EVENT = "Logged In"
PATHS_START = "Visited Site"

FUNNEL_QUERY = """query($i: FunnelInput!) { funnel(input: $i) {
  steps { index event people droppedOff } segments { value conversionRate steps { people } } computedAt cached } }"""
COHORT_QUERY = """query($i: CohortInput!) { cohort(input: $i) {
  rows { start size cells { index people } } computedAt cached } }"""
REVENUE_QUERY = """query($i: RevenueReportInput!) { revenueReport(input: $i) {
  total gross refunds payingPeople averageRevenuePerPayingPerson
  series { start total gross refunds payingPeople } bySource { value total payingPeople } computedAt cached } }"""
LIFECYCLE_QUERY = """query($i: LifecycleInput!) { lifecycle(input: $i) {
  points { start new returning resurrecting dormant } computedAt cached } }"""
PATHS_QUERY = """query($i: PathsInput!) { paths(input: $i) {
  nodes { step event people } links { fromStep source target people } computedAt cached } }"""
TRENDS_QUERY = """query($i: TrendsInput!) { trends(input: $i) {
  series { index event math breakdownValue total points { start value } } computedAt cached } }"""
STICKINESS_QUERY = """query($i: StickinessInput!) { stickiness(input: $i) {
  intervals buckets { periods people } computedAt cached } }"""
# the same trend and stickiness as bench/statements.py (TREND_SERIES, ...)
TREND_SERIES = [{"event": "Visited Site", "math": "PEOPLE"}, {"event": "Logged In", "math": "TOTAL"},
                {"event": "Billed", "math": "SUM", "property": "Revenue"}]
TREND_BREAKDOWN = "Variant"
STICKY_EVENT, STICKY_INTERVAL = "Logged In", "WEEK"
KINDS = ("funnel", "cohort", "revenue", "lifecycle", "paths", "trends", "stickiness")


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def requests(start: datetime, end: datetime) -> dict[str, tuple[str, dict]]:
    return {
        "funnel": (FUNNEL_QUERY, {"i": {
            "steps": [{"event": s} for s in FUNNEL_STEPS], "from": iso(start), "to": iso(end),
            "conversionWindowSeconds": WINDOW, "segmentBy": {"firstStepProperty": SEGMENT, "limit": 10}}}),
        "cohort": (COHORT_QUERY, {"i": {
            "cohortEvent": "Signed Up", "returnEvent": "Logged In", "from": iso(COHORT_FROM), "to": iso(COHORT_TO),
            "cohortPeriod": "WEEK", "bucket": "WEEK", "buckets": 12}}),
        "revenue": (REVENUE_QUERY, {"i": {
            "from": iso(start), "to": iso(end), "interval": "MONTH", "sourceProperty": SEGMENT}}),
        "lifecycle": (LIFECYCLE_QUERY, {"i": {
            "event": LIFECYCLE_EVENT, "from": iso(start), "to": iso(end), "interval": "WEEK"}}),
        "paths": (PATHS_QUERY, {"i": {"startEvent": PATHS_START, "from": iso(start), "to": iso(end)}}),
        "trends": (TRENDS_QUERY, {"i": {
            "series": TREND_SERIES, "from": iso(start), "to": iso(end), "interval": "DAY",
            "breakdown": {"personProperty": TREND_BREAKDOWN}}}),
        "stickiness": (STICKINESS_QUERY, {"i": {
            "event": STICKY_EVENT, "from": iso(start), "to": iso(end), "interval": STICKY_INTERVAL}}),
    }


def duck_answers(con, start: datetime, end: datetime) -> dict:
    return {
        # the whole answer, durations included (as whodid's statement computes
        # it), compared on the people (what FUNNEL_QUERY asks)
        "funnel": lambda: duckdb_reports.people_counts(
            duckdb_reports.funnel(con, FUNNEL_STEPS, start, end, WINDOW, SEGMENT, 10)),
        "cohort": lambda: duckdb_reports.cohort(con, "Signed Up", "Logged In", COHORT_FROM, COHORT_TO, WEEK, 12),
        "revenue": lambda: duckdb_reports.revenue(con, start, end, SEGMENT),
        "lifecycle": lambda: duckdb_reports.lifecycle(con, LIFECYCLE_EVENT, start, end, "week", start,
                                                      end - timedelta(weeks=1)),
        "paths": lambda: duckdb_reports.paths(con, PATHS_START, start, end, 4, 10),
        # connect_persons(con, paths) first (duck_answers' callers do)
        "trends": lambda: duckdb_reports.trends(con, TREND_SERIES, start, end, "DAY", TREND_BREAKDOWN),
        "stickiness": lambda: duckdb_reports.stickiness(con, STICKY_EVENT, start, end, STICKY_INTERVAL),
    }


class Client:
    """GraphQL over one keep-alive HTTP connection."""

    def __init__(self, port: int, key: str):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    def _exchange(self, body: bytes):
        """One request; a keep-alive connection the server closed meanwhile
        (uvicorn closes idle ones after 5 s) is opened again, once."""
        for attempt in range(2):
            try:
                self.conn.request("POST", "/graphql", body, self.headers)
                response = self.conn.getresponse()
                return response, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)
                if attempt:
                    raise

    def post(self, query: str, variables: dict) -> tuple[dict, float]:
        """The answer and the wall time. A database that is away (PostgreSQL
        is shared and sometimes restarted by others) is waited for: up to 5 tries."""
        body = orjson.dumps({"query": query, "variables": variables})
        for attempt in range(5):
            if time.monotonic() - getattr(self, "_last", 0) > 4:
                self.conn.close()  # idle for a while: a fresh connection, not a timed-out one
            started = time.perf_counter()
            response, raw = self._exchange(body)
            data = orjson.loads(raw)
            elapsed = time.perf_counter() - started
            self._last = time.monotonic()
            unavailable = any((e.get("extensions") or {}).get("code") == "UNAVAILABLE" for e in data.get("errors") or [])
            if unavailable and attempt < 4:
                print("  (database unavailable: PostgreSQL restarted? retrying)", flush=True)
                time.sleep(3)
                continue
            if response.status != 200 or data.get("errors"):
                raise RuntimeError(f"GraphQL error: {response.status} {data}")
            return next(iter(data["data"].values())), elapsed
        raise AssertionError("unreachable")


def whodid_comparable(kind: str, answer: dict):
    """The whodid answer in duckdb_reports' shapes."""
    if kind == "funnel":
        return {"steps": [s["people"] for s in answer["steps"]],
                "segments": {s["value"]: [x["people"] for x in s["steps"]] for s in answer["segments"]}}
    if kind == "lifecycle":  # periods with anyone, as DuckDB gives them
        return [(datetime.fromisoformat(p["start"].replace("Z", "+00:00")).replace(tzinfo=None), p["new"],
                 p["returning"], p["resurrecting"], p["dormant"]) for p in answer["points"]
                if p["new"] or p["returning"] or p["resurrecting"] or p["dormant"]]
    if kind == "paths":
        return {"nodes": [(n["step"], n["event"], n["people"]) for n in answer["nodes"]],
                "links": [(x["fromStep"], x["source"], x["target"], x["people"]) for x in answer["links"]]}
    if kind == "trends":  # as bench/statements.py duck_shape: non-empty points
        return [(s["index"], s["breakdownValue"], s["total"],
                 [(datetime.fromisoformat(p["start"].replace("Z", "+00:00")).replace(tzinfo=None), p["value"])
                  for p in s["points"] if p["value"]])
                for s in answer["series"]]
    if kind == "stickiness":
        return {b["periods"]: b["people"] for b in answer["buckets"] if b["people"]}
    if kind == "cohort":
        out = []
        for row in answer["rows"]:
            cells = [0] * 12
            for c in row["cells"]:
                cells[c["index"]] = c["people"]
            start = datetime.fromisoformat(row["start"].replace("Z", "+00:00")).replace(tzinfo=None)
            out.append((start, row["size"], cells))
        return out
    return {
        "total": Decimal(answer["total"]), "gross": Decimal(answer["gross"]), "refunds": Decimal(answer["refunds"]),
        "paying": answer["payingPeople"],
        "series": [(datetime.fromisoformat(p["start"].replace("Z", "+00:00")).replace(tzinfo=None),
                    Decimal(p["total"]), Decimal(p["gross"]), Decimal(p["refunds"]), p["payingPeople"])
                   for p in answer["series"]],
        "sources": [(s["value"], Decimal(s["total"]), s["payingPeople"]) for s in answer["bySource"]],
    }


def differences(kind: str, ours, duck) -> list[str]:
    if ours == duck:
        return []
    if kind == "funnel":
        out = [] if ours["steps"] == duck["steps"] else [f"steps {ours['steps']} != {duck['steps']}"]
        for value in sorted(set(ours["segments"]) | set(duck["segments"]), key=lambda v: (v is None, v or "")):
            a, b = ours["segments"].get(value), duck["segments"].get(value)
            if a != b:
                out.append(f"segment {value!r}: {a} != {b}")
        return out
    if kind in ("lifecycle", "paths", "trends", "stickiness"):
        return [f"{kind}: {ours} != {duck}"[:400]]
    if kind == "cohort":
        return [f"row {a} != {b}" for a, b in zip(ours, duck) if a != b] + (
            [f"{len(ours)} rows != {len(duck)}"] if len(ours) != len(duck) else [])
    return [f"{k}: {ours[k]} != {duck[k]}" for k in ours if ours[k] != duck[k]]


async def explain(url: str, project_id, start: datetime, end: datetime) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each report's statement, as the server builds it."""
    from .statements import build

    statements = build(project_id, start, end)
    from app.storage.pool import connect

    conn = await connect(url)
    out = {}
    try:
        for kind, (sql, params) in statements.items():
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
            out[kind] = "\n".join(r[0] for r in rows)
    finally:
        await conn.close()
    return out


def cached_latency(server: common.Server, key: str, query: str, variables: dict, seconds: float):
    body = orjson.dumps({"query": query, "variables": variables}).decode()
    lua = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
           f'wrk.headers["Authorization"] = "Bearer {key}"\nwrk.body = [==[{body}]==]\n'
           "request = function() sent_count = sent_count + 1 return wrk.format() end\n")
    return common.run_wrk(server.base + "/graphql", lua, connections=1, threads=1, seconds=seconds)


def run(events: int, rounds: int, cached_seconds: float, do_explain: bool, seed: int = 42,
        keep_dir: Path | None = None, kinds: tuple[str, ...] = ("funnel", "cohort", "revenue"),
        citus: str | None = None, one_statement: bool = False) -> dict:
    """Everything for one data size; returns the figures (also used by bench/growth.py).
    cached_seconds <= 0: no cached measurement."""
    result: dict = {"events": 0, "reports": {}}
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        ds = generate.generate(events=events, seed=seed)
        result["events"] = len(ds.events)
        result["generate_s"] = time.perf_counter() - started
        name = f"reports-{ds.project_id.hex[:8]}"
        for attempt in range(3):
            # PostgreSQL is shared and now and then restarted by others: a
            # load that fails is done again in a new database.
            db = contextlib.ExitStack()
            url = db.enter_context(common.fresh_citus_database(citus, "whodid_bench_reports_citus") if citus
                                   else common.fresh_database("whodid_bench_reports"))
            started = time.perf_counter()
            try:
                result["load"] = asyncio.run(asyncio.wait_for(generate.load_database(url, ds, name), timeout=1800))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as exc:
                print(f"  (loading failed: {type(exc).__name__}: {exc}; again in a new database)", flush=True)
                db.close()
                if attempt == 2:
                    raise
                time.sleep(5)
                continue
            stack.enter_context(db)
            break
        result["load_s"] = time.perf_counter() - started
        keys = orjson.loads(os.popen(f"DATABASE_URL={url} {common.VENV_BIN / 'whodid'} project rotate-keys {name}"
                                     " --json").read())
        folder = keep_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="whodid-duck-")))
        paths = generate.write_csv(ds, folder)
        start, end = generate.START, generate.END
        del ds
        started = time.perf_counter()
        con = duckdb_reports.connect(paths)
        if "trends" in kinds:
            duckdb_reports.connect_persons(con, paths)
        result["duckdb_load_s"] = time.perf_counter() - started

        env = {"WHODID_REPORT_TIMEOUT": "900"}
        cold = stack.enter_context(common.whodid_server(url, env={**env, "WHODID_REPORT_TTL": "0"}, name="cold"))
        warm = stack.enter_context(common.whodid_server(url, env={
            **env, "WHODID_REPORT_TTL": "900", "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")},
            name="cached"))
        one = stack.enter_context(common.whodid_server(
            url, env={**env, "WHODID_REPORT_TTL": "0", "WHODID_REPORT_PARTS": "1"}, name="one")) if one_statement else None
        rss = stack.enter_context(common.RssSampler(cold.workers() + warm.workers()))
        client = Client(cold.port, keys["readKey"])
        one_client = Client(one.port, keys["readKey"]) if one is not None else None
        warm_client = Client(warm.port, keys["readKey"])
        duck = duck_answers(con, start, end)
        for kind, (query, variables) in requests(start, end).items():
            if kind not in kinds:
                continue
            answer, times, dtimes, restarted = None, [], [], False
            one_times: list[float] = []
            for _ in range(rounds):
                before = common.postmaster_started()
                answer, elapsed = client.post(query, variables)
                assert answer["cached"] is False, "the cold server answered from a cache"
                times.append(elapsed)
                if one_client is not None:
                    one_answer, elapsed = one_client.post(query, variables)
                    assert one_answer["cached"] is False, "the one-statement server answered from a cache"
                    assert whodid_comparable(kind, one_answer) == whodid_comparable(kind, answer), \
                        "the one statement's answer differs"
                    one_times.append(elapsed)
                restarted |= common.postmaster_started() != before
                t = time.perf_counter()
                duck_answer = duck[kind]()
                dtimes.append(time.perf_counter() - t)
            lat, again = common.WrkResult(), {"cached": None}
            if cached_seconds > 0:
                warm_client.post(query, variables)
                lat = cached_latency(warm, keys["readKey"], query, variables, cached_seconds)
                again, _ = warm_client.post(query, variables)
            result["reports"][kind] = {
                "cold_s": common.median(times), "duckdb_s": common.median(dtimes), "cold_runs": times,
                "cached_p50_ms": lat.p50_ms, "cached_p99_ms": lat.p99_ms, "cached_rps": lat.rps,
                "cached_hit": again["cached"], "cached_errors": lat.non2xx + lat.socket_errors,
                "diff": differences(kind, whodid_comparable(kind, answer), duck_answer),
                "restarted": restarted,
                "one_statement_s": common.median(one_times) if one_times else None,
            }
            print(f"  {kind}: cold {common.median(times):.3f} s, "
                  + (f"one statement {common.median(one_times):.3f} s, " if one_times else "")
                  + f"DuckDB {common.median(dtimes):.3f} s, cached p50 {lat.p50_ms:.2f} ms, answers {'equal' if not result['reports'][kind]['diff'] else 'DIFFER'}",
                  flush=True)
        if do_explain:
            project_id = keys["id"]
            import uuid as _uuid

            result["explain"] = asyncio.run(explain(url, _uuid.UUID(project_id), start, end))
        result["rss_mb"] = rss.peak_mb()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cached-seconds", type=float, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: ~20,000 events, 1 round")
    ap.add_argument("--reports", default="funnel,cohort,revenue", help=f"some of {','.join(KINDS)}")
    ap.add_argument("--one-statement", action="store_true",
                    help="also time a server with WHODID_REPORT_PARTS=1, in alternation with the cold one")
    ap.add_argument("--citus", default=None, metavar="URL",
                    help="on a database of this Citus coordinator (../shared/tools/citus-cluster) instead")
    args = ap.parse_args()
    if args.quick:
        args.events, args.rounds, args.cached_seconds = 20_000, 1, 2
    kinds = tuple(k for k in KINDS if k in args.reports.split(","))
    res = run(args.events, args.rounds, args.cached_seconds, args.explain, args.seed, kinds=kinds, citus=args.citus,
              one_statement=args.one_statement)
    print(f"\n{res['events']:,} events (generated in {res['generate_s']:.0f} s, COPY then VACUUM (ANALYZE): "
          + ", ".join(f"{k} {v:.1f} s" for k, v in res["load"].items())
          + f"; DuckDB load {res['duckdb_load_s']:.1f} s); cold = median of {args.rounds}, over HTTP")
    rows = []
    for kind, r in res["reports"].items():
        one = [] if not args.one_statement else ["-"] if r["one_statement_s"] is None else [
            f"{r['one_statement_s'] * 1000:,.0f} ({r['one_statement_s'] / r['duckdb_s']:.2f})"]
        rows.append([kind, f"{r['cold_s'] * 1000:,.0f}", *one, f"{r['duckdb_s'] * 1000:,.0f}",
                     f"{r['cold_s'] / r['duckdb_s']:.2f}", f"{r['cached_p50_ms']:.2f}", f"{r['cached_p99_ms']:.2f}",
                     "yes" if not r["diff"] else "NO: " + "; ".join(r["diff"])[:200]])
    print(common.table(["report", "whodid cold ms"] + (["one statement ms (/ DuckDB)"] if args.one_statement else [])
                       + ["DuckDB ms", "cold / DuckDB", "cached p50 ms", "cached p99 ms", "same answer"], rows))
    print("peak RSS MB per worker (cold server, cached server): " + " / ".join(f"{v:.0f}" for v in res["rss_mb"]))
    for kind, r in res["reports"].items():
        if r["restarted"]:
            print(f"  note: PostgreSQL restarted during the {kind} runs (shared server); figures may be off")
    for kind, text in res.get("explain", {}).items():
        print(f"\n--- EXPLAIN ANALYZE {kind}\n{text}")


if __name__ == "__main__":
    main()

"""Reports over data that just arrived, against the same reports at rest
(issue 16, first part; docs/benchmarks.md, "Statistics").

Data arrive the way a user's do: through `whodid serve --workers 2`, three
clients sending `recordEvents` batches of 1,000 events (bench/generate.py's
data set, in time order, into a new project), with nothing analyzed or
vacuumed by hand. Reports run cold over HTTP (WHODID_REPORT_TTL=0):

  after    right after the last batch is acknowledged: each report once;
  during   a second project loaded the same way while a reporter asks for the
           funnel over it again and again (one at a time), until the load ends;
  at rest  then `VACUUM (ANALYZE)` of every table (what bench/reports does after
           loading) and each report again: the median of `--rounds`.

Ratios: `after` / `at rest` per report; `during` (median and worst) / the
funnel at rest over the second project's whole data (more than any `during`
report saw). `--compare-ref REF` runs the same against the code of git REF
first (e.g. the commit before the fix), with its own database; a report that
hits the timeout (`--timeout`, default 60 s) is shown as such.

    .venv/bin/python -m bench.fresh_statistics [--events 600000] [--rounds 3] [--timeout 60]
                                               [--compare-ref REF] [--quick]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone

import asyncpg
import orjson

from . import common, generate, reports

CLIENTS = 3
BATCH = 1000
RECORD_EVENTS = """mutation($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted duplicates } }"""


def batches(ds: generate.Dataset) -> list[bytes]:
    """The data set's events as recordEvents bodies of BATCH events (ids kept:
    a retried batch is idempotent)."""
    out = []
    events = ds.events
    for start in range(0, len(events), BATCH):
        chunk = [{"id": str(e[0]), "identity": e[2], "name": e[3], "properties": orjson.loads(e[4]),
                  "timestamp": e[6].astimezone(timezone.utc).isoformat()} for e in events[start:start + BATCH]]
        out.append(orjson.dumps({"query": RECORD_EVENTS, "variables": {"e": chunk}}))
    return out


def send_all(port: int, key: str, bodies: list[bytes]) -> float:
    """Every body sent by CLIENTS threads over keep-alive connections; seconds."""
    import http.client

    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors: list[str] = []
    retried = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        while True:
            with lock:
                if not queue or errors:
                    return
                body = queue.pop()
            for attempt in range(10):
                conn.request("POST", "/graphql", body, headers)
                response = conn.getresponse()
                raw = response.read()
                # UNAVAILABLE (e.g. "write conflicted too often"): a client retries, as documented.
                if b'"UNAVAILABLE"' in raw and attempt < 9:
                    with lock:
                        retried[0] += 1
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if response.status != 200 or b'"errors"' in raw:
                    errors.append(raw[:300].decode(errors="replace"))
                break

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a batch failed: {errors[0]}")
    if retried[0]:
        print(f"  ({retried[0]} batches answered UNAVAILABLE and were sent again)", flush=True)
    return time.perf_counter() - started


@dataclass
class Run:
    label: str
    events: int = 0
    load_seconds: float = 0.0
    after: dict[str, float | None] = field(default_factory=dict)
    during: list[float | None] = field(default_factory=list)
    rest: dict[str, float] = field(default_factory=dict)
    rest_second: float = 0.0


def timed(client: reports.Client, kind: str, start, end) -> float | None:
    """One cold report's wall time, or None when it hit the report timeout."""
    query, variables = reports.requests(start, end)[kind]
    try:
        return client.post(query, variables)[1]
    except RuntimeError as exc:
        if "TIMEOUT" in str(exc):
            return None
        raise


async def _vacuum_analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for table in ("persons", "identities", "events", "property_changes"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


def run_one(label: str, server: common.Server, url: str, first: generate.Dataset, second: generate.Dataset,
            rounds: int) -> Run:
    run = Run(label, events=len(first.events))
    start, end = generate.START, generate.END
    one, two = common.create_project(url), common.create_project(url)

    print(f"[{label or 'this tree'}] sending {len(first.events):,} events ...", flush=True)
    run.load_seconds = send_all(server.port, one["writeKey"], batches(first))
    client = reports.Client(server.port, one["readKey"])
    for kind in ("funnel", "cohort", "revenue"):
        run.after[kind] = timed(client, kind, start, end)
        print(f"  after the load: {kind} {_s(run.after[kind])}", flush=True)

    print(f"  sending {len(second.events):,} more into a second project, reporting meanwhile ...", flush=True)
    done = threading.Event()
    failed: list[Exception] = []

    def send_second() -> None:
        # done set even when a batch fails (send_all raises): the loop below
        # ends, and the failure is raised here once the thread is joined.
        try:
            send_all(server.port, two["writeKey"], batches(second))
        except Exception as e:
            failed.append(e)
        finally:
            done.set()

    sender = threading.Thread(target=send_second)
    sender.start()
    reporter = reports.Client(server.port, two["readKey"])
    time.sleep(2)
    while not done.is_set():
        run.during.append(timed(reporter, "funnel", start, end))
        if len(run.during) % 20 == 0 or run.during[-1] is None:
            print(f"  during: {len(run.during)} funnels, the last {_s(run.during[-1])}", flush=True)
    sender.join()
    if failed:
        raise failed[0]

    asyncio.run(_vacuum_analyze(url))
    for kind in ("funnel", "cohort", "revenue"):
        run.rest[kind] = statistics.median(timed(client, kind, start, end) or float("inf") for _ in range(rounds))
    run.rest_second = statistics.median(timed(reporter, "funnel", start, end) or float("inf")
                                        for _ in range(rounds))
    print(f"  at rest: {', '.join(f'{k} {_s(v)}' for k, v in run.rest.items())};"
          f" second project's funnel {_s(run.rest_second)}", flush=True)
    return run


def _s(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.2f} s"


def _ratio(value: float | None, rest: float) -> str:
    return "timeout" if value is None else f"{value / rest:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=600_000, help="events per project")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60.0, help="WHODID_REPORT_TIMEOUT of the servers")
    ap.add_argument("--compare-ref", default=None)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20,000 events per project")
    args = ap.parse_args()
    if args.quick:
        args.events = 20_000
    first = generate.generate(events=args.events, seed=42)
    second = generate.generate(events=args.events, seed=43)
    env = {"WHODID_REPORT_TTL": "0", "WHODID_REPORT_TIMEOUT": str(args.timeout), "WHODID_ACCESS_LOG": "errors"}
    runs = []
    with contextlib.ExitStack() as stack:
        trees = [(args.compare_ref, stack.enter_context(common.exported_tree(args.compare_ref)))] \
            if args.compare_ref else []
        trees.append(("", None))
        for label, tree in trees:
            with common.fresh_database() as url, common.whodid_server(url, env=env, tree=tree,
                                                                       name=label or "whodid") as server:
                runs.append(run_one(label, server, url, first, second, args.rounds))
    rows = []
    for run in runs:
        name = run.label or "this tree"
        during = [d for d in run.during if d is not None]
        timeouts = len(run.during) - len(during)
        for kind in ("funnel", "cohort", "revenue"):
            rows.append([name, f"after load: {kind}", _s(run.after[kind]), _s(run.rest[kind]),
                         _ratio(run.after[kind], run.rest[kind])])
        if run.during:
            worst = None if timeouts else max(during)
            rows.append([name, f"during load: funnel, median of {len(run.during)}",
                         _s(statistics.median(during)) if during else "timeout", _s(run.rest_second),
                         _ratio(statistics.median(during), run.rest_second) if during else "timeout"])
            if during:
                p90 = sorted(during)[int(0.9 * (len(during) - 1))]
                rows.append([name, "during load: funnel, p90", _s(p90), _s(run.rest_second),
                             _ratio(p90, run.rest_second)])
            rows.append([name, f"during load: funnel, worst ({timeouts} timeouts)", _s(worst), _s(run.rest_second),
                         _ratio(worst, run.rest_second)])
    print()
    rates = ", ".join(f"{r.label or 'this tree'}: {r.events / r.load_seconds:,.0f} events/s" for r in runs)
    print(f"{args.events:,} events per project, sent by {CLIENTS} clients in batches of {BATCH} ({rates})")
    print(common.table(["code", "report", "fresh", "at rest", "ratio"], rows))


if __name__ == "__main__":
    main()

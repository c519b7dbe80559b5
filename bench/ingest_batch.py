"""Batches of 1,000 events per call against `whodid serve --workers 2`, beside
raw asyncpg binary COPY (copy_records_to_table) of the same kind of rows into
the same events table, with the same indexes, in the same database:

  recordEvents     GraphQL, 1,000 RecordEventInput per call, each with an `id`
  /v1/batch        Segment, 1,000 track messages per call, each with a messageId
  raw COPY         2 connections (one per core), each COPYing 1,000-row batches
                   in a loop, one transaction per batch: no HTTP, no parsing, no
                   validation, no identity resolution (person ids precomputed)

wrk (2 threads) with `--connections` keep-alive connections builds every body
in Lua with unique ids and 5,000 identities per thread. Events/s = 1,000 ×
acknowledged calls per second. Afterwards the events of the run's project are
counted: every acknowledged batch must be stored in full. The CPU time of
each side (whodid's workers or the COPY client, the database's PostgreSQL
backends, wrk) is counted per event. `--compare-ref REF` also serves the code
of git REF on its own database, side by side (before/after).

    .venv/bin/python -m bench.ingest_batch [--seconds 10] [--rounds 3] [--connections 8] [--compare-ref REF]
                                           [--quick]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import orjson

from . import common
from .ingest_single import stored

BATCH = 1000
IDENTITIES = 5000

# wrk builds each call's body: `item` is the Lua expression of one event
# (n: its number), `body` wraps `parts`. The %(...)s fields are filled per run.
_BATCH_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{auth}"
counter = 0
request = function()
  counter = counter + 1
  sent_count = counter
  local parts = {}
  for j = 1, %(batch)d do
    local n = counter * %(batch)d + j
    parts[j] = {item}
  end
  return wrk.format(nil, "{path}", nil, {body})
end
"""


def batch_lua(auth: str, path: str, item: str, body: str) -> str:
    return _BATCH_LUA.replace("{auth}", auth).replace("{path}", path).replace("{item}", item).replace("{body}", body)


EVENTS_LUA = batch_lua(
    "Bearer %(key)s", "/graphql",
    item=r"""'{"identity":"%(run)s-u' .. tid .. '-' .. (n %% %(ids)d) .. '","name":"Viewed Page","id":"%(run)s-' ..
      tid .. '-' .. n .. '","properties":{"URL":"https://example.com/p/' .. (n %% 50) ..
      '","Campaign Source":"google","Variant":"B"}}'""",
    body=r"""'{"query":"mutation R($e: [RecordEventInput!]!) { recordEvents(input: $e) { accepted duplicates } }",' ..
    '"variables":{"e":[' .. table.concat(parts, ",") .. ']}}'""",
)

SEGMENT_LUA = batch_lua(
    "Basic %(basic)s", "/v1/batch",
    item=r"""'{"type":"track","userId":"%(run)s-u' .. tid .. '-' .. (n %% %(ids)d) .. '","event":"Viewed Page",' ..
      '"messageId":"%(run)s-' .. tid .. '-' .. n .. '","properties":{"URL":"https://example.com/p/' .. (n %% 50) ..
      '","Campaign Source":"google","Variant":"B"}}'""",
    body=r"""'{"batch":[' .. table.concat(parts, ",") .. ']}'""",
)


async def raw_copy(url: str, seconds: float, connections: int = 2) -> tuple[float, int, float]:
    """Events/s of binary COPY, 1,000-row batches, `connections` in parallel;
    rows like those the servers store (uuid7-like ids, person ids, jsonb).
    Also: rows stored, and the CPU seconds of the connections' backends."""
    project = uuid.uuid4()
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    backend_pids = [await conn.fetchval("SELECT pg_backend_pid()") for conn in conns]
    await conns[0].execute(
        "INSERT INTO projects (id, name, write_key_hash, read_key_hash) VALUES ($1, $2, $3, $4)",
        project, f"copy-{project.hex[:8]}", uuid.uuid4().bytes * 2, uuid.uuid4().bytes * 2)
    props = orjson.dumps({"URL": "https://example.com/p/1", "Campaign Source": "google", "Variant": "B"}).decode()
    now = datetime.now(timezone.utc)
    persons = [uuid.uuid5(project, f"copy-u{i}") for i in range(IDENTITIES)]
    columns = ["project_id", "id", "person_id", "identity", "name", "properties", "revenue", "ts", "received_at",
               "idempotency_key"]
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker(c: int, conn) -> None:
        nonlocal count
        n = 0
        while time.perf_counter() < deadline:
            rows = []
            for _ in range(BATCH):
                n += 1
                k = n % IDENTITIES
                rows.append((project, uuid.uuid4(), persons[k], f"copy-u{k}", "Viewed Page", props, None,
                             now - timedelta(seconds=n), now, f"copy-{c}-{n}"))
            await conn.copy_records_to_table("events", columns=columns, records=rows)
            count += BATCH

    started = time.perf_counter()
    with common.CpuMeter({"postgres": lambda: backend_pids}) as cpu:
        await asyncio.gather(*(worker(c, conn) for c, conn in enumerate(conns)))
    elapsed = time.perf_counter() - started
    stored_rows = await conns[0].fetchval("SELECT count(*) FROM events WHERE project_id = $1", project)
    for conn in conns:
        await conn.close()
    return count / elapsed, stored_rows, cpu.seconds["postgres"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--compare-ref", default=None, help="also serve this git ref (e.g. HEAD), as 'before'")
    ap.add_argument("--citus", default=None, metavar="URL",
                    help="also serve a database on this Citus coordinator (../shared/tools/citus-cluster)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 s, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds = 3, 1

    copy_case = "raw COPY (2 connections)"
    results: dict[str, list] = {copy_case: []}
    durability: list[str] = []
    rss_peak: dict[str, list[float]] = {}  # case: the highest RSS of each worker over the rounds, MB
    cpu_per_event: dict[str, list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = common.whodid_servers(stack, args.compare_ref, args.citus)
        url = next(u for ref, _, u in servers if ref == "")  # raw COPY goes into the working tree's database

        for rnd in range(args.rounds):
            with common.CpuMeter({"client or server": lambda: [os.getpid()]}) as cpu:
                rate, rows, copy_backends = asyncio.run(raw_copy(url, args.seconds))
            results[copy_case].append(rate)
            cpu.seconds["postgres"] = copy_backends
            cpu_per_event.setdefault(copy_case, []).append(cpu.per_request_us(rows))
            print(f"  round {rnd + 1} raw COPY: {rate:,.0f} events/s ({rows:,} rows stored)", flush=True)
            for kind, lua in (("whodid recordEvents", EVENTS_LUA), ("whodid /v1/batch", SEGMENT_LUA)):
                for ref, server, db in servers:
                    name = f"{kind} ({ref})" if ref else kind
                    run_batch(name, server, db, lua, rnd, args, results, cpu_per_event, durability, rss_peak)

    copy_rate = common.median(results[copy_case])
    table_rows = [[copy_case, copy_rate, "1.00", "-", "-", "-", "-", "-"]]
    for name in results:
        if name == copy_case:
            continue
        rate = common.median([r for r, _ in results[name]])
        res = [x for _, x in results[name]]
        table_rows.append([name, rate, f"{rate / copy_rate:.2f}", common.median([r.p50_ms for r in res]),
                           common.median([r.p99_ms for r in res]), sum(r.non2xx + r.socket_errors for r in res),
                           " / ".join(f"{v:.0f}" for v in rss_peak[name]), ", ".join(r.extra["spread"] for r in res)])
    print(f"\n{BATCH} events per call, {args.connections} keep-alive connections (wrk -t2), {args.seconds:.0f} s per"
          f" run, median of {args.rounds} round(s); ratio = events/s / raw COPY events/s")
    print(common.table(["case", "events/s", "ratio to COPY", "p50 ms per call", "p99 ms per call", "errors",
                        "peak RSS MB per worker", "connections per worker, each round"], table_rows))
    print("\ndurability (events counted in PostgreSQL afterwards):")
    for line in durability:
        print("  " + line)

    # Where the cores go, per event (µs of CPU, medians of rounds): the
    # process doing the work (this script for raw COPY, whodid's workers
    # otherwise), the database's PostgreSQL backends, and wrk (which builds
    # the JSON bodies).
    cpu_rows = []
    for name, runs in cpu_per_event.items():
        cpu_rows.append([name] + [f"{common.median([r[key] for r in runs]):.1f}"
                                  for key in ("client or server", "postgres", "load generator")])
    print(f"\nCPU per event, µs (median of rounds; {os.cpu_count()} cores for everything)")
    print(common.table(["case", "COPY client / whodid workers", "PostgreSQL backends", "wrk"], cpu_rows))


def run_batch(name, server, db, lua, rnd, args, results, cpu_per_event, durability, rss_peak) -> None:
    """One wrk run of 1,000-event calls against `server`, with its figures,
    CPU, peak RSS and the durability count recorded under `name`."""
    import base64

    project = common.create_project(db)
    fill = {"key": project["writeKey"], "basic": base64.b64encode(f"{project['writeKey']}:".encode()).decode(),
            "run": f"b{rnd}", "batch": BATCH, "ids": IDENTITIES}
    before = common.postmaster_started()
    workers = server.workers()
    # Which worker holds which of wrk's connections, sampled once they are all open.
    spread: list[int | str] = []
    sampler = threading.Timer(min(2.0, args.seconds / 2),
                              lambda: spread.extend(common.connections_by_worker(workers, server.port)))
    sampler.start()
    with common.RssSampler(workers) as rss, \
            common.CpuMeter({"client or server": lambda: workers,
                             "postgres": lambda: common.database_backends(db)}) as cpu:
        res = common.run_wrk(server.base + ("/graphql" if "record" in name else "/v1/batch"), lua % fill,
                             connections=args.connections, seconds=args.seconds, timeout="60s")
    sampler.join()
    if common.postmaster_started() != before:
        print("  (PostgreSQL restarted during this run: figures may be off)")
    time.sleep(1.0)
    count = stored(db, project["id"])
    rate = res.ok * BATCH / res.seconds
    res.extra["spread"] = "/".join(map(str, spread)) or "?"
    results.setdefault(name, []).append((rate, res))
    cpu_per_event.setdefault(name, []).append(cpu.per_request_us(res.requests * BATCH))
    lost = max(0, res.ok * BATCH - count)
    durability.append(
        f"{name}, round {rnd + 1}: acked {res.ok} calls = {res.ok * BATCH} events, stored {count}"
        f" (in flight when wrk stopped: {(count - res.ok * BATCH) / BATCH:.0f} calls), 4xx"
        f" {res.extra.get('4xx', 0)}, 5xx {res.extra.get('5xx', 0)}"
        + ("" if lost == 0 else f"  ** {lost} ACKED EVENTS MISSING **"))
    rss_peak[name] = [max(a, b) for a, b in zip(rss_peak.get(name, [0, 0]), rss.peak_mb())]
    print(f"  round {rnd + 1} {name}: {rate:,.0f} events/s, p50 {res.p50_ms:.0f} ms per call, connections per"
          f" worker {res.extra['spread']}", flush=True)


if __name__ == "__main__":
    main()

"""Live fan-out cost: ingestion while 1, 10 and 50 liveEvents subscribers watch.

    .venv/bin/python -m bench.live_fanout [--rate 3000] [--batch 10] [--seconds 5] [--subscribers 1,10,50]
                                          [--rounds 2] [--compare-ref main] [--workers 2]
                                          [--split [--live-nice 10]]

Against `whodid serve --workers 2` on a fresh database (and, with
--compare-ref, a second server running the code of that git ref on its own
database, measured in the same rounds), each round and each subscriber count:
open that many subscriptions (graphql-transport-ws, `liveEvents` with no
filter: every event goes to every subscriber, spread over the workers by the
kernel), send `--rate` events/s for `--seconds` in `recordEvents` batches of
`--batch` over 16 HTTP connections, and wait until every event is
acknowledged and delivered (or 60 s).

Reported per (server, subscribers), medians over the rounds:
  ingest/s     events acknowledged per second, first send to last ack
  ratio        that, over the same server's figure with 1 subscriber
  ack p50/max  send -> ack latency (the backlog the sender sees)
  delivered    next messages received, of events x subscribers
  drain        last ack -> last delivery (how far the fan-out lags behind)

The subscribers live in one client process that only counts frames (no JSON
parsing), so that the clients cost the shared CPUs as little as possible;
the sender checks that it keeps its schedule (`sent late` is the worst
lateness of a request against the steady rate: a sender that is itself the
bottleneck shows here).

--split adds this tree served the way docs/operations.md suggests for many
subscribers: `whodid serve --role api --workers 2` for the sender and
`whodid serve --role live --workers 1` for the subscribers, on one database
(and, with --live-nice, the live server at a lower CPU priority)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.common import create_project, fresh_database, whodid_server, whodid_servers  # noqa: E402
from bench.live_latency import RECORD_MANY, _open  # noqa: E402

QUERY = "subscription { liveEvents { id name personId identity properties timestamp } }"


# ------------------------------------------------------------------ subscribers (child process)

def subscribers_main(url: str, key: str, count: int, total: int, ready_q, out_q, stop_evt) -> None:
    async def main():
        got = [0] * count
        last = [0.0]
        all_done = asyncio.get_running_loop().create_future()
        finished = [0]
        sockets = []

        async def one(n: int) -> None:
            ws = await _open(url)
            ws.send(orjson.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
            assert orjson.loads(await ws.messages.get())["type"] == "connection_ack"
            ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))

            def on_text(now: float, text: bytes) -> None:
                if text.startswith(b'{"id":"1","type":"next"'):
                    got[n] += 1
                    last[0] = now
                    if got[n] == total:
                        finished[0] += 1
                        if finished[0] == count and not all_done.done():
                            all_done.set_result(None)
                elif b'"ping"' in text:
                    ws.send(b'{"type":"pong"}')

            ws.on_text = on_text
            sockets.append(ws)

        for n in range(count):
            await one(n)
        await asyncio.sleep(0.5)  # the subscribe messages reach their workers
        ready_q.put(True)
        while not all_done.done() and not stop_evt.is_set():
            await asyncio.sleep(0.05)
        for ws in sockets:
            ws.transport.close()
        out_q.put((sum(got), last[0]))

    asyncio.run(main())


# ------------------------------------------------------------------ sender

async def send_all(url: str, key: str, rate: float, total: int, batch: int, connections: int = 16):
    clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=2))
               for _ in range(connections)]
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    late = [0.0]
    failures = [0]
    last_ack = [0.0]

    async def one(n: int, first: int) -> None:
        events = [{"identity": f"fan-{i % 200}", "name": "Bench", "properties": {"i": i}}
                  for i in range(first, min(first + batch, total))]
        body = orjson.dumps({"query": RECORD_MANY, "variables": {"input": events}})
        sent = time.monotonic()
        for attempt in range(3):  # a keep-alive connection the server closed as it was reused
            try:
                response = await clients[n % connections].post(
                    "/graphql", content=body, headers={**headers, "Content-Type": "application/json"})
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
                failures[0] += 1
        now = time.monotonic()
        latencies.append(now - sent)
        last_ack[0] = max(last_ack[0], now)
        if response.status_code != 200 or "errors" in response.json():
            failures[0] += 1

    start = time.monotonic()
    tasks = []
    for n, first in enumerate(range(0, total, batch)):
        due = start + first / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late[0] = max(late[0], -delay)
        tasks.append(asyncio.create_task(one(n, first)))
    await asyncio.gather(*tasks)
    for c in clients:
        await c.aclose()
    return start, last_ack[0], latencies, late[0], failures[0]


def one_run(server, keys: dict, subscribers: int, args, live_server=None) -> dict:
    total = int(args.rate * args.seconds)
    ctx = mp.get_context("spawn")
    ready_q, out_q, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=subscribers_main,
                       args=((live_server or server).base, keys["readKey"], subscribers, total, ready_q, out_q, stop))
    proc.start()
    try:
        ready_q.get(timeout=120)
        start, last_ack, latencies, late, failures = asyncio.run(
            send_all(server.base, keys["writeKey"], args.rate, total, args.batch))
        deadline = time.monotonic() + 30
        while out_q.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        delivered, last_delivery = out_q.get(timeout=30)
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    return {
        "ingest": total / (last_ack - start),
        "ack_p50": statistics.median(latencies),
        "ack_max": max(latencies),
        "delivered": min(delivered, total * subscribers) / (total * subscribers),
        "drain": max(0.0, last_delivery - last_ack) if last_delivery else float("nan"),
        "late": late,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=3000.0, help="events per second offered (default 3000)")
    parser.add_argument("--batch", type=int, default=10, help="events per recordEvents call (default 10)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to send, per run (default 5)")
    parser.add_argument("--subscribers", default="1,10,50", help="subscriber counts (default 1,10,50)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, counts interleaved (default 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare-ref", default=None, help="also serve this git ref's code, same rounds")
    parser.add_argument("--split", action="store_true",
                        help="also this tree as `--role api` (--workers) beside `--role live` (1 worker, "
                             "subscribers there), on one database")
    parser.add_argument("--live-nice", type=int, default=0, help="with --split: renice the live server by this")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 2 s")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    counts = [int(c) for c in args.subscribers.split(",")]

    with contextlib.ExitStack() as stack:
        servers = [(label or "this tree", server, create_project(url), None)
                   for label, server, url in whodid_servers(stack, args.compare_ref, workers=args.workers,
                                                            prefix="whodid_bench_live_fanout")]
        if args.split:
            url = stack.enter_context(fresh_database("whodid_bench_live_fanout"))
            api = stack.enter_context(whodid_server(url, workers=args.workers, env={"WHODID_ROLE": "api"},
                                                    name="api"))
            live = stack.enter_context(whodid_server(url, workers=1, env={"WHODID_ROLE": "live"}, name="live"))
            if args.live_nice:
                import psutil

                for pid in [live.proc.pid, *live.workers()]:
                    psutil.Process(pid).nice(args.live_nice)
            servers.append((f"split{f' nice {args.live_nice}' if args.live_nice else ''}", api,
                            create_project(url), live))
        results: dict = {}
        for r in range(args.rounds):
            for label, server, keys, live_server in servers:
                for count in counts:
                    run = one_run(server, keys, count, args, live_server)
                    results.setdefault((label, count), []).append(run)
                    print(f"round {r + 1} {label:<12} {count:>3} subscribers: {run['ingest']:8.0f} events/s"
                          f"  ack p50 {run['ack_p50'] * 1000:7.0f} ms  max {run['ack_max'] * 1000:7.0f} ms"
                          f"  delivered {run['delivered']:.3f}  drain {run['drain']:.2f} s"
                          f"  sent late {run['late'] * 1000:.0f} ms"
                          + (f"  failed or retried {run['failures']}" if run["failures"] else ""), flush=True)

    print()
    print(f"{args.rate:.0f} events/s offered for {args.seconds:.0f} s in batches of {args.batch}, "
          f"whodid serve --workers {args.workers}, {os.cpu_count()} CPUs; medians of {args.rounds} rounds")
    print(f"{'server':<14}{'subs':>5}{'ingest/s':>10}{'ratio':>8}{'ack p50 ms':>12}{'ack max ms':>12}"
          f"{'delivered':>11}{'drain s':>9}")
    for label, *_ in servers:
        base = statistics.median(r["ingest"] for r in results[(label, counts[0])])
        for count in counts:
            runs = results[(label, count)]

            def med(k: str) -> float:
                return statistics.median(r[k] for r in runs)

            print(f"{label:<14}{count:>5}{med('ingest'):>10.0f}{med('ingest') / base:>8.2f}"
                  f"{med('ack_p50') * 1000:>12.0f}{med('ack_max') * 1000:>12.0f}{med('delivered'):>11.3f}"
                  f"{med('drain'):>9.2f}")


if __name__ == "__main__":
    main()

"""Live events: commit-to-subscriber latency against `whodid serve --workers 2`.

    .venv/bin/python -m bench.live_latency [--rate 1000] [--batch 10] [--seconds 10] [--subscribers 10] [--workers 2]
                                           [--rounds 1] [--compare-ref main]

On a fresh database, it sends events at a steady `--rate` (events/s), in
requests of `--batch` events (recordEvents; recordEvent when 1), through
several HTTP connections (so both workers ingest), while `--subscribers`
liveEvents subscriptions (graphql-transport-ws, spread over the workers by the
kernel) receive them. Three processes take part:

- the sender (this process): time each request was sent and acknowledged;
- the subscribers: time each event arrived at each subscriber;
- a commit probe: a plain asyncpg connection LISTENing on the live channel.
  PostgreSQL signals listeners when the transaction commits, so the time the
  probe sees an event's notification is the commit time (to a fraction of a
  millisecond) as measured from outside the server.

Reported, over every (event, subscriber) delivery:
  commit → subscriber   probe notification → arrival at the subscriber
  ack → subscriber      the sender got its answer → arrival (may be < 0)
  send → subscriber     end to end, including ingestion and group commit
and, for context, send → ack (the ingestion latency itself).

All clocks are CLOCK_MONOTONIC of this one machine. The client processes
share the CPU with the server and PostgreSQL: on a small machine the figures
include that contention."""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.common import create_project, whodid_servers  # noqa: E402

CHANNEL = "whodid_events"
RECORD = "mutation($input: RecordEventInput!) { recordEvent(input: $input) { duplicate } }"
RECORD_MANY = "mutation($input: [RecordEventInput!]!) { recordEvents(input: $input) { accepted } }"


# ------------------------------------------------------------------ subscribers (child process)

class _Frames(asyncio.Protocol):
    """A bare WebSocket client connection (the subscribers must cost the
    machine as little as possible: the server shares its CPUs with them).
    Server frames are unmasked; every frame is stamped when its bytes arrive."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.on_text: Callable[[float, bytes], None] | None = None  # fast path once subscribed: fn(arrival time, text)
        self.closed = asyncio.get_event_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's (asyncio types it as the base)

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buffer
        buf += data
        while True:
            if len(buf) < 2:
                return
            opcode, size, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return
                size, offset = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + size:
                return
            payload = bytes(buf[offset:offset + size])
            del buf[:offset + size]
            if opcode == 0x9:  # ping: pong
                self.send(payload, opcode=0xA)
            elif opcode == 0x8:
                self.transport.close()
            elif self.on_text is not None:
                self.on_text(now, payload)
            else:
                self.messages.put_nowait(payload)

    def send(self, data: bytes, opcode: int = 0x1) -> None:
        mask = os.urandom(4)
        size = len(data)
        if size < 126:
            header = bytes([0x80 | opcode, 0x80 | size])
        elif size < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.transport.write(header + mask + masked)


class _Handshake(asyncio.Protocol):
    """The connection until the server's answer to the upgrade: `head`
    resolves with that answer; what came after it stays in `received`."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.received += data
        end = self.received.find(b"\r\n\r\n")
        if end >= 0 and not self.head.done():
            self.head.set_result(bytes(self.received[:end + 4]))
            del self.received[:end + 4]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(asyncio.IncompleteReadError(bytes(self.received), None))


async def _open(url: str) -> _Frames:
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    transport, handshake = await loop.create_connection(_Handshake, host, int(port))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    transport.write((f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                     f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
    head = await handshake.head
    assert head.startswith(b"HTTP/1.1 101"), head
    frames = _Frames()
    transport.set_protocol(frames)
    frames.connection_made(transport)
    rest = bytes(handshake.received)  # anything that came with the handshake
    if rest:
        frames.data_received(rest)
    return frames


async def _subscriber(url: str, key: str, tag: str, total: int, ready, keep: asyncio.Future,
                      arrivals: dict, dropped: list, stop: asyncio.Event):
    """One subscription, filtered on ["Bench", tag]: the tag is an event name
    never sent, which /live/stats shows, so the bench can tell which worker
    holds which subscription and keep an even spread."""
    query = "subscription($w: LiveEventFilter) { liveEvents(where: $w) { id name personId identity properties timestamp } }"
    ws = await _open(url)
    ws.send(orjson.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
    assert orjson.loads(await ws.messages.get())["type"] == "connection_ack"
    ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": query, "variables": {"w": {"names": ["Bench", tag]}}}}))
    ready()
    if not await keep:
        ws.transport.close()
        return
    done = asyncio.get_running_loop().create_future()
    got = [0]

    def on_text(now: float, text: bytes) -> None:
        message = orjson.loads(text)
        if message.get("type") == "ping":
            ws.send(b'{"type":"pong"}')
            return
        if message.get("type") != "next":
            return
        payload = message["payload"]
        arrivals[payload["data"]["liveEvents"]["properties"]["i"]] = now
        got[0] += 1
        lost = ((payload.get("extensions") or {}).get("live") or {}).get("dropped", 0)
        if lost:
            dropped.append(lost)
            got[0] += lost
        if got[0] >= total and not done.done():
            done.set_result(None)

    while not ws.messages.empty():  # anything queued before the fast path
        on_text(time.monotonic(), ws.messages.get_nowait())
    ws.on_text = on_text
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([done, stopped, ws.closed], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    ws.transport.close()


def subscribers_main(url: str, key: str, candidates: int, total: int, ready_q, keep_q, out_q, stop_evt) -> None:
    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        tags = [f"tag-{n}" for n in range(candidates)]
        keep = {t: loop.create_future() for t in tags}
        arrivals = {t: {} for t in tags}
        dropped = {t: [] for t in tags}
        ready = [0]

        def one_ready():
            ready[0] += 1
            if ready[0] == candidates:
                ready_q.put(True)

        async def control():
            chosen = await loop.run_in_executor(None, keep_q.get)
            for t in tags:
                keep[t].set_result(t in chosen)
            while not stop_evt.is_set():
                await asyncio.sleep(0.1)
            stop.set()

        controller = asyncio.create_task(control())
        tasks = []
        for t in tags:  # one at a time, so that the workers take turns accepting
            tasks.append(asyncio.create_task(_subscriber(url, key, t, total, one_ready, keep[t], arrivals[t],
                                                         dropped[t], stop)))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
        await controller
        kept = [t for t in tags if keep[t].result()]
        out_q.put(([arrivals[t] for t in kept], [dropped[t] for t in kept]))

    asyncio.run(main())


# ------------------------------------------------------------------ commit probe (child process)

def probe_main(dsn: str, project_hex: str, ready_q, out_q, stop_evt) -> None:
    async def main() -> None:
        commits: dict[int, float] = {}
        by_id: dict[str, float] = {}  # events that travelled by id: resolved at the end

        def on_notify(_conn, _pid, _channel, payload: str) -> None:
            now = time.monotonic()
            if not payload.startswith(project_hex):
                return
            for entry in orjson.loads(payload[33:]):
                if isinstance(entry, list):  # inline row: properties at index 5
                    commits[entry[5]["i"]] = now
                else:
                    by_id[entry] = now

        conn = await asyncpg.connect(dsn)
        await conn.add_listener(CHANNEL, on_notify)
        ready_q.put(True)
        while not stop_evt.is_set():
            await asyncio.sleep(0.05)
        if by_id:
            rows = await conn.fetch("SELECT id::text AS id, (properties->>'i')::int AS i FROM events"
                                    " WHERE id = ANY($1::uuid[])", list(by_id))
            for r in rows:
                commits[r["i"]] = by_id[r["id"]]
        await conn.close()
        out_q.put(commits)

    asyncio.run(main())


# ------------------------------------------------------------------ sender

async def send_all(url: str, key: str, rate: float, total: int, batch: int,
                   connections: int) -> tuple[dict, dict, float]:
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=2))
               for _ in range(connections)]
    headers = {"Authorization": f"Bearer {key}"}
    failures = 0

    async def one(n: int, first: int) -> None:
        nonlocal failures
        numbers = range(first, min(first + batch, total))
        events = [{"identity": f"bench-{i % 200}", "name": "Bench", "properties": {"i": i}} for i in numbers]
        if batch == 1:
            body = {"query": RECORD, "variables": {"input": events[0]}}
        else:
            body = {"query": RECORD_MANY, "variables": {"input": events}}
        now = time.monotonic()
        for i in numbers:
            sent[i] = now
        response = await clients[n % connections].post("/graphql", json=body, headers=headers)
        now = time.monotonic()
        for i in numbers:
            acked[i] = now
        if response.status_code != 200 or "errors" in response.json():
            failures += 1

    start = time.monotonic()
    tasks = []
    for n, first in enumerate(range(0, total, batch)):
        delay = start + first / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, first)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    for c in clients:
        await c.aclose()
    if failures:
        print(f"warning: {failures} requests failed", file=sys.stderr)
    return sent, acked, elapsed


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def row(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{label:<24}{len(ms):>8}{pct(ms, .5):>10.2f}{pct(ms, .9):>10.2f}{pct(ms, .99):>10.2f}"
            f"{max(ms) if ms else float('nan'):>10.2f}{statistics.fmean(ms) if ms else float('nan'):>10.2f}")


def measure(server, dsn: str, args) -> dict:
    """One run against `server` (on database `dsn`): latencies in seconds."""
    import uuid

    total = int(args.rate * args.seconds)
    keys = create_project(dsn)
    ctx = mp.get_context("spawn")
    ready_q, subs_q, probe_q, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    project_hex = uuid.UUID(keys["id"]).hex
    keep_q = ctx.Queue()
    candidates = max(4 * args.subscribers, 12)
    probe = ctx.Process(target=probe_main, args=(dsn, project_hex, ready_q, probe_q, stop))
    subs = ctx.Process(target=subscribers_main,
                       args=(server.base, keys["readKey"], candidates, total, ready_q, keep_q, subs_q, stop))
    probe.start()
    subs.start()
    ready_q.get(timeout=60)
    ready_q.get(timeout=60)
    by_pid = asyncio.run(_holders(server.base, keys["readKey"], candidates))
    chosen = _even_spread(by_pid, args.subscribers)
    keep_q.put(chosen)
    spread = ", ".join(str(len([t for t in tags if t in chosen])) for tags in by_pid.values())
    time.sleep(1.0)

    sent, acked, elapsed = asyncio.run(send_all(server.base, keys["writeKey"], args.rate, total, args.batch,
                                                args.connections))
    time.sleep(3.0)  # let the last deliveries arrive
    stop.set()
    arrivals, dropped = subs_q.get(timeout=120)
    commits = probe_q.get(timeout=60)
    subs.join(30)
    probe.join(30)

    out: dict = {"commit -> subscriber": [], "ack -> subscriber": [], "send -> subscriber": []}
    delivered = 0
    for per_sub in arrivals:
        for i, t in per_sub.items():
            delivered += 1
            if i in commits:
                out["commit -> subscriber"].append(t - commits[i])
            if i in acked:
                out["ack -> subscriber"].append(t - acked[i])
            out["send -> subscriber"].append(t - sent[i])
    out["send -> ack (ingest)"] = [acked[i] - sent[i] for i in acked]
    out["info"] = (f"{args.subscribers} subscribers (per worker: {spread}); {total} events at {args.rate:.0f}/s "
                   f"(achieved {total / elapsed:.0f}/s over {elapsed:.1f} s); deliveries: {delivered} of "
                   f"{total * args.subscribers} expected; dropped (reported): {sum(sum(d) for d in dropped)}; "
                   f"commits seen by the probe: {len(commits)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    parser.add_argument("--batch", type=int, default=10, help="events per request (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    parser.add_argument("--subscribers", type=int, default=10, help="liveEvents subscriptions (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="whodid serve --workers (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="HTTP clients sending (default 16)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server, interleaved (default 1)")
    parser.add_argument("--compare-ref", default=None,
                        help="also serve this git ref's code on its own database, in the same rounds")
    args = parser.parse_args()

    import contextlib

    with contextlib.ExitStack() as stack:
        servers = [(label or "this tree", server, dsn)
                   for label, server, dsn in whodid_servers(stack, args.compare_ref, workers=args.workers,
                                                            prefix="whodid_bench_live_perf")]
        results: dict = {}
        for r in range(args.rounds):
            for label, server, dsn in servers:
                run = measure(server, dsn, args)
                print(f"round {r + 1}, {label}: {run.pop('info')}", flush=True)
                merged = results.setdefault(label, {})
                for k, v in run.items():
                    merged.setdefault(k, []).extend(v)
                    if k == "commit -> subscriber":
                        print("    " + row(k, v), flush=True)

    print()
    print(f"whodid serve --workers {args.workers}; {args.subscribers} subscribers; {args.rate:.0f} events/s in "
          f"batches of {args.batch} for {args.seconds:.0f} s; {args.rounds} round(s); {os.cpu_count()} CPUs")
    for label, merged in results.items():
        print()
        print(f"{label}")
        print(f"{'latency (ms)':<24}{'count':>8}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}{'mean':>10}")
        for k, v in merged.items():
            print(row(k, v))


async def _holders(url: str, read_key: str, candidates: int) -> dict[int, list[str]]:
    """Which worker holds which tagged subscription, from /live/stats asked
    on fresh connections until every subscription has been seen."""
    by_pid: dict[int, list[str]] = {}
    for _ in range(200):
        async with httpx.AsyncClient(timeout=5) as client:
            body = (await client.get(f"{url}/live/stats", headers={"Authorization": f"Bearer {read_key}"})).json()
        by_pid[body["pid"]] = [n for s in body["subscribers"] for n in (s["names"] or []) if n.startswith("tag-")]
        if sum(len(v) for v in by_pid.values()) >= candidates:
            break
    return by_pid


def _even_spread(by_pid: dict[int, list[str]], count: int) -> set[str]:
    """`count` tags, taken round-robin from the workers that hold them."""
    pools = [list(tags) for tags in by_pid.values() if tags]
    chosen: set[str] = set()
    while len(chosen) < count and any(pools):
        for pool in pools:
            if pool and len(chosen) < count:
                chosen.add(pool.pop())
    return chosen


if __name__ == "__main__":
    main()

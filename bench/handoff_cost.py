"""What handing each event to one writer per host would cost in CPU, before
any database work: the hand-off of docs/benchmarks.md §6 "Next" (workers
send their validated events to one writer process over a local socket; it
commits them in larger groups and answers each after COMMIT).

Two worker processes with `--concurrency` requests in flight each send a
validated /e event (the fields the writer stores, as JSON, length-prefixed)
over a Unix socket to a writer process; the writer reads whatever has
arrived, rebuilds each event (UUID, times, the properties' text) as its
group commit would need it, and answers each request (event id, seq, person
id) in one write per worker and group, as it would after COMMIT; the worker
resolves the request's future from the answer. No database: what is measured
is only what the hand-off adds. The baseline is the same loop with the
writer's queue in the worker (a future per event, resolved in the worker).

    .venv/bin/python -m bench.handoff_cost [--events 40000] [--concurrency 32]"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import struct
import tempfile
import time
import uuid
from datetime import datetime, timezone

import orjson

HEADER = struct.Struct("!I")
PROPERTIES = '{"URL":"https://example.com/pricing","Campaign Source":"google","Variant":"B"}'


def _event(n: int) -> list:
    now = datetime.now(timezone.utc)
    return [str(uuid.uuid4()), f"u-{n % 5000}", "Viewed Site", PROPERTIES, None, now.isoformat(),
            now.isoformat(), f"km:{n:064x}"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _worker(path: str | None, events: int, concurrency: int) -> float:
    """Send `events` events (or queue them locally when path is None); CPU seconds used."""
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future] = {}
    if path is not None:
        reader, writer = await asyncio.open_unix_connection(path)

        async def answers() -> None:
            buffer = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buffer += data
                while len(buffer) >= 4:
                    (size,) = HEADER.unpack_from(buffer)
                    if len(buffer) < 4 + size:
                        break
                    for request, seq, person in orjson.loads(buffer[4:4 + size]):
                        waiting.pop(request).set_result((seq, uuid.UUID(person)))
                    buffer = buffer[4 + size:]

        reading = asyncio.create_task(answers())
    else:
        local: asyncio.Queue = asyncio.Queue()

        async def flusher() -> None:  # the in-process writer's queue, without the database
            while True:
                batch = [await local.get()]
                while not local.empty():
                    batch.append(local.get_nowait())
                await asyncio.sleep(0)
                for n, future in batch:
                    future.set_result((n, uuid.uuid4()))

        reading = asyncio.create_task(flusher())
    counter = 0

    async def client(count: int) -> None:
        nonlocal counter
        for _ in range(count):
            counter += 1
            n = counter
            event = _event(n)
            future = loop.create_future()
            if path is not None:
                waiting[n] = future
                body = orjson.dumps([n, *event])
                writer.write(HEADER.pack(len(body)) + body)
            else:
                local.put_nowait((n, future))
            await future

    started = _cpu()
    await asyncio.gather(*(client(events // concurrency) for _ in range(concurrency)))
    used = _cpu() - started
    reading.cancel()
    if path is not None:
        writer.close()
    return used


def _worker_main(path, events, concurrency, out) -> None:
    import uvloop

    out.put(uvloop.run(_worker(path, events, concurrency)))


async def _writer(path: str, ready, done) -> tuple[float, int]:
    """Read events from the workers, rebuild them, answer each group at once;
    (CPU seconds used, events received) once `done` is set."""
    counts = {"events": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buffer += data
            answers = []
            while len(buffer) >= 4:
                (size,) = HEADER.unpack_from(buffer)
                if len(buffer) < 4 + size:
                    break
                n, event_id, identity, name, props, revenue, ts, received, key = orjson.loads(buffer[4:4 + size])
                buffer = buffer[4 + size:]
                # What the group commit needs of each event, rebuilt.
                rebuilt = (uuid.UUID(event_id), identity, name, props, revenue, datetime.fromisoformat(ts),
                           datetime.fromisoformat(received), key)
                answers.append([n, counts["events"], str(uuid.uuid5(uuid.NAMESPACE_URL, rebuilt[1]))])
                counts["events"] += 1
            if answers:
                body = orjson.dumps(answers)
                writer.write(HEADER.pack(len(body)) + body)

    server = await asyncio.start_unix_server(serve, path)
    ready.set()
    started = _cpu()
    await asyncio.get_running_loop().run_in_executor(None, done.wait)
    used = _cpu() - started
    server.close()
    return used, counts["events"]


def _writer_main(path, ready, done, out) -> None:
    import uvloop

    out.put(uvloop.run(_writer(path, ready, done)))


def run(events: int, concurrency: int, handoff: bool) -> dict:
    ctx = mp.get_context("fork")
    out, writer_out = ctx.Queue(), ctx.Queue()
    folder = tempfile.mkdtemp(prefix="whodid-handoff-")
    path = os.path.join(folder, "writer.sock") if handoff else None
    writer_proc = None
    if handoff:
        ready, done = ctx.Event(), ctx.Event()
        writer_proc = ctx.Process(target=_writer_main, args=(path, ready, done, writer_out))
        writer_proc.start()
        ready.wait(10)
    workers = [ctx.Process(target=_worker_main, args=(path, events // 2, concurrency, out)) for _ in range(2)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    worker_cpu = sum(out.get() for _ in workers)
    wall = time.perf_counter() - started
    for w in workers:
        w.join()
    writer_cpu = 0.0
    if writer_proc is not None:
        done.set()
        writer_cpu, stored = writer_out.get()
        writer_proc.join()
    sent = events // 2 // concurrency * concurrency * 2
    return {"workers_us": worker_cpu / sent * 1e6, "writer_us": writer_cpu / sent * 1e6, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows: dict[str, list[dict[str, float]]] = {"in-process queue": [], "hand-off to a writer process": []}
    for _ in range(args.rounds):
        rows["in-process queue"].append(run(args.events, args.concurrency, False))
        rows["hand-off to a writer process"].append(run(args.events, args.concurrency, True))
    os.system("uptime")
    for name, results in rows.items():
        w = sorted(r["workers_us"] for r in results)[len(results) // 2]
        x = sorted(r["writer_us"] for r in results)[len(results) // 2]
        print(f"{name}: workers {w:.1f} µs/event, writer process {x:.1f} µs/event, together {w + x:.1f}"
              f" (rounds: {', '.join(format(r['workers_us'] + r['writer_us'], '.1f') for r in results)})")


if __name__ == "__main__":
    main()

"""Flushes that race for the same new identities: two writers (as two workers
of `whodid serve --workers 2`, each its own pool) and `--clients` clients
sending `--size`-event batches whose identities overlap (each batch draws
from 900 identities, a window that moves on by 300 a batch, so concurrent
batches keep creating the same new persons, as a bulk import from several
senders does).

Counts the batches acknowledged and refused (UNAVAILABLE) and the flushes the
writers ran again from the start (a rolled-back group of up to 2,000 events)
— for this tree and, with `--compare-ref REF`, for REF's code on a database
of its own in the same run — and checks every acknowledged event is stored.

    .venv/bin/python -m bench.flush_races [--clients 3] [--batches 30] [--size 1000] [--rounds 2] [--compare-ref REF]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path


async def _run(url: str, clients: int, batches: int, size: int, seed: int) -> dict:
    # Imported here: with --compare-ref this runs in a process whose `app` is REF's.
    from app.auth import AuthService
    from app.errors import Unavailable
    from app.ingest.service import IngestService
    from app.ingest.validation import EventIn
    from app.ingest.writer import Writer
    from app.storage.pool import create_pool
    from app.storage.projects import ProjectRepository

    class CountingWriter(Writer):
        """A Writer that counts its transactions (a retried flush runs several)."""
        transactions = 0

        async def _write(self, *args, **kwargs):  # type: ignore[override]
            CountingWriter.transactions += 1
            return await super()._write(*args, **kwargs)

    pools = [await create_pool(url, min_size=2, max_size=4) for _ in range(2)]
    writers = [CountingWriter(p) for p in pools]
    flushes = 0

    def count(events: int, seconds: float) -> None:
        nonlocal flushes
        flushes += 1

    for writer in writers:
        writer.observers.append(count)
        writer.start()
    ingests = [IngestService(pool, writer) for pool, writer in zip(pools, writers)]
    project = (await AuthService(ProjectRepository(pools[0])).create_project(f"races-{seed}")).id
    rng = random.Random(seed)
    acknowledged = refused = 0
    window = 0

    async def client(n: int) -> None:
        nonlocal acknowledged, refused, window
        for b in range(batches):
            base, window = window, window + 300
            events = [EventIn(f"u{base + rng.randrange(900)}", "E", {"n": i}) for i in range(size)]
            try:
                await ingests[(n + b) % 2].record_events(project, events)
                acknowledged += len(events)
            except Unavailable:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    seconds = time.perf_counter() - started
    for writer in writers:
        await writer.close()
    async with pools[0].acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project)
    for pool in pools:
        await pool.close()
    return {"batches": clients * batches, "refused": refused, "flushes": flushes,
            "rerun": CountingWriter.transactions - flushes, "seconds": round(seconds, 2),
            "acknowledged": acknowledged, "stored": stored}


def _inner(argv: list[str]) -> None:
    url, clients, batches, size, seed = argv[0], *map(int, argv[1:])
    print(json.dumps(asyncio.run(_run(url, clients, batches, size, seed))))


def main() -> None:
    from . import common

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batches", type=int, default=30, help="batches per client")
    parser.add_argument("--size", type=int, default=1000, help="events per batch")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare-ref")
    args = parser.parse_args()
    with ExitStack() as stack:
        trees: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.compare_ref:
            trees.append((args.compare_ref, stack.enter_context(common.exported_tree(args.compare_ref))))
        rows = []
        for n in range(args.rounds):
            for label, tree in trees:
                url = stack.enter_context(common.fresh_database("whodid_bench_races"))
                rows.append((n + 1, label, common.measured_in_tree(
                    Path(__file__).resolve(),
                    ["--inner", url, str(args.clients), str(args.batches), str(args.size), str(n)], tree)))
    print(f"{args.clients} clients x {args.batches} batches of {args.size} events, two writers\n")
    print("| round | code | batches | refused | flushes | flushes run again | seconds | acknowledged = stored |")
    print("|---|---|---|---|---|---|---|---|")
    for n, label, r in rows:
        same = "yes" if r["acknowledged"] == r["stored"] else f"**no** ({r['acknowledged']} vs {r['stored']})"
        print(f"| {n} | {label} | {r['batches']} | {r['refused']} | {r['flushes']} | {r['rerun']} | {r['seconds']} | {same} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inner"]:  # one measurement, in the process of common.measured_in_tree
        _inner(sys.argv[2:])
    else:
        main()

"""The cohort on a Citus cluster, per shard (build_per_shard), against plain
PostgreSQL's statement on the same world, and optionally against the
coordinator's path (cluster.reads: the project's rows pulled; quadratic, keep
--persons small for it). Every mode (first time, recurring, cumulative or
not); the answers compared.

The world: `persons` persons with 20 events each over 120 days ("Signed Up",
"Viewed" ×2, "Paid" drawn at random, seed 1), COPYed into both databases.

    .venv/bin/python -m bench.citus_cohort --citus postgresql://postgres@127.0.0.1:9700/postgres \\
        [--persons 10000] [--coordinator]"""
from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg

from app.reports.cohort.spec import CohortSpec
from app.reports.cohort.statement import build, build_per_shard
from app.storage import cluster
from app.storage.pool import init_connection

from . import common

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    await cluster.note_connection(conn)
    return conn


async def load(conn: asyncpg.Connection, project: uuid.UUID, persons: int) -> None:
    rng = random.Random(1)
    people = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(persons)]
    events = [(project, uuid.UUID(int=rng.getrandbits(128)), p, f"u{k}",
               rng.choice(["Signed Up", "Viewed", "Viewed", "Paid"]), T0 + timedelta(hours=rng.randint(0, 24 * 120)),
               T0)
              for k, p in enumerate(people) for _ in range(20)]
    await conn.execute("INSERT INTO projects (id, name, write_key_hash, read_key_hash) VALUES ($1, $2, $3, $4)",
                       project, str(project), project.bytes, project.bytes[::-1])
    await conn.copy_records_to_table("persons", columns=["project_id", "id"], records=[(project, p) for p in people])
    await conn.copy_records_to_table(
        "events", columns=["project_id", "id", "person_id", "identity", "name", "ts", "received_at"], records=events)
    await conn.execute("VACUUM ANALYZE events")
    await conn.execute("VACUUM ANALYZE persons")


async def timed(fetch, sql: str, params: list) -> tuple[float, list]:
    started = time.perf_counter()
    rows = await fetch(sql, *params)
    return time.perf_counter() - started, [(r[0], r[1], list(r[2])) for r in rows]


async def run(citus_url: str, plain_url: str, persons: int, coordinator: bool) -> None:
    project = uuid.uuid4()
    citus, plain = await connect(citus_url), await connect(plain_url)
    try:
        await load(citus, project, persons)
        await load(plain, project, persons)
        print(f"{persons} persons, {20 * persons} events")
        for mode in ("FIRST_TIME", "RECURRING"):
            for cumulative in (False, True):
                spec = CohortSpec("Signed Up", "Viewed", T0, T0 + timedelta(days=60), mode=mode,
                                  cumulative=cumulative)
                sql, params = build(project, spec)
                per_shard = build_per_shard(project, spec)
                assert per_shard is not None
                runs = [await timed(plain.fetch, sql, params) for _ in range(2)]
                shard = [await timed(citus.fetch, per_shard[0], per_shard[1]) for _ in range(2)]
                line = (f"{mode:10} {'cumulative' if cumulative else '':10} plain {runs[0][0]:.3f}, {runs[1][0]:.3f} s;"
                        f" Citus per shard {shard[0][0]:.3f}, {shard[1][0]:.3f} s")
                equal = runs[0][1] == shard[0][1] == shard[1][1]
                if coordinator:
                    pulled = await timed(cluster.reads(citus).fetch, sql, params)
                    line += f"; Citus coordinator path {pulled[0]:.3f} s"
                    equal = equal and pulled[1] == runs[0][1]
                print(f"{line}; rows {len(runs[0][1])}, answers equal: {equal}", flush=True)
    finally:
        await citus.close()
        await plain.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citus", required=True, metavar="URL")
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--coordinator", action="store_true", help="also the coordinator's path (slow)")
    args = ap.parse_args()
    with common.fresh_citus_database(args.citus, "whodid_bench_citus2_cohort") as citus_url, \
            common.fresh_database("whodid_bench_citus2_cohort") as plain_url:
        asyncio.run(run(citus_url, plain_url, args.persons, args.coordinator))


if __name__ == "__main__":
    main()

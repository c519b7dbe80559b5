"""A deterministic (seeded) data set for the report benchmarks, and loading it
fast: asyncpg binary COPY straight into a fresh project's tables (persons,
identities, events, property_changes), consistent with what ingestion would
have produced; or the same rows as CSV/Parquet for DuckDB.

The product: a SaaS site (about 10 events per visitor) with an A/B experiment on its pricing page.

- Every visitor starts anonymous (`anon-…`, a person of its own, id uuid5 of
  project and identity as ingestion makes it) and visits 1-10 times:
  "Visited Site" (URL, Referrer, Variant, Campaign Source when the visit came
  from a campaign). A campaign visit also records "Ad Campaign Hit" (Campaign
  Source/Medium/Name) and sets the same as person properties, as km.js does.
- The two-variant experiment: property `Variant` (A or B) on the visits and as
  a person property; B converts a little better to "Viewed Pricing".
- The 4-step funnel: "Visited Site" → "Viewed Pricing" → "Signed Up" →
  "Subscribed". A signup identifies the visitor (`user-…@example.com` is added
  to the anonymous person, which becomes identified: identify's NAMED).
- Signed-up users log in ("Logged In") with a decaying weekly probability.
- Some users come back on a second device (`anon-…-m`, a person of its own,
  with a visit) and log in there: identify merges that person into theirs
  (MERGED): its events and identities move to the survivor, its row stays with
  merged_into set.
- Subscribers are billed monthly ("Billed", Revenue "29.00" or "99.00", kept as
  numeric); about 3% of bills are refunded a few days later (a "Billed" with a
  negative Revenue). Plan changes are person properties.

Events are loaded in time order (so `seq` follows time, as live ingestion
would give), with received_at = the event's time.

    .venv/bin/python -m bench.generate --people 1000 --csv /tmp/out   # CSV (and --parquet) for DuckDB
    .venv/bin/python -m bench.generate --events 1000000 --database-url postgresql://…  # load a new project"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import orjson

START = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday
DAYS = 364                                         # 52 weeks
END = START + timedelta(days=DAYS)
EVENTS_PER_PERSON = 9.68                           # about, with the rates below

SOURCES = [("google", 0.28), ("facebook", 0.14), ("newsletter", 0.09), ("twitter", 0.05), ("bing", 0.03),
           ("partner-site", 0.01), (None, 0.40)]
MEDIUM = {"google": "cpc", "bing": "cpc", "facebook": "social", "twitter": "social", "newsletter": "email",
          "partner-site": "referral"}
REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/", "", "https://t.co/", ""]
PLANS = [("Pro", Decimal("29.00")), ("Team", Decimal("99.00"))]


@dataclass
class Dataset:
    project_id: uuid.UUID
    # (id, identified, created_at, merged_into, properties json)
    persons: list[tuple] = field(default_factory=list)
    # (identity, person_id, created_at)
    identities: list[tuple] = field(default_factory=list)
    # (id, person_id, identity, name, properties json, revenue, ts) in time order; seq = position + 1
    events: list[tuple] = field(default_factory=list)
    # (person_id, key, value json, at) in time order
    property_changes: list[tuple] = field(default_factory=list)
    merged: int = 0
    identified: int = 0


def _uuid7(ts: datetime, rng: random.Random) -> uuid.UUID:
    ms = int(ts.timestamp() * 1000) & ((1 << 48) - 1)
    rand = rng.getrandbits(74)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1)))


def _pick(rng: random.Random, weighted):
    x = rng.random()
    for value, weight in weighted:
        x -= weight
        if x < 0:
            return value
    return weighted[-1][0]


def _json(value) -> str:
    return orjson.dumps(value).decode()


def generate(*, people: int | None = None, events: int | None = None, seed: int = 42,
             project_id: uuid.UUID | None = None) -> Dataset:
    """`people` visitors, or about `events` events (people = events / 9.68)."""
    if people is None:
        people = max(1, round((events or 1_000_000) / EVENTS_PER_PERSON))
    rng = random.Random(seed)
    project_id = project_id or uuid.UUID(int=random.Random(seed + 1).getrandbits(128), version=4)
    ds = Dataset(project_id)
    raw_events: list[tuple] = []   # (ts, person, identity, name, props json, revenue)
    span = DAYS * 86400

    def at(seconds: float) -> datetime:
        return START + timedelta(seconds=min(seconds, span - 1))

    for i in range(people):
        anon = f"anon-{i:07d}"
        pid = uuid.uuid5(project_id, anon)
        t = rng.random() * span * 0.9
        source = _pick(rng, SOURCES)
        variant = "A" if rng.random() < 0.5 else "B"
        created = at(t)
        ds.identities.append((anon, pid, created))
        props: dict[str, tuple[str, datetime]] = {}   # current person properties: key -> (json, at)

        def set_prop(key: str, value, when: datetime) -> None:
            text = _json(value)
            ds.property_changes.append((pid, key, text, when))
            held = props.get(key)
            if held is None or when >= held[1]:
                props[key] = (text, when)

        def record(when: datetime, identity: str, name: str, properties: dict, revenue: Decimal | None = None,
                   person: uuid.UUID = pid) -> None:
            raw_events.append((when, person, identity, name, _json(properties), revenue))

        set_prop("Variant", variant, created)
        visits = 1 + min(9, int(rng.expovariate(0.45)))
        visit_times = []
        for v in range(visits):
            when = at(t)
            visit_times.append(t)
            visit = {"URL": "https://example.com/", "Referrer": rng.choice(REFERRERS), "Variant": variant}
            if source is not None and v == 0:
                visit["Campaign Source"] = source
                record(when, anon, "Ad Campaign Hit", {"Campaign Source": source, "Campaign Medium": MEDIUM[source],
                                                       "Campaign Name": "spring-launch"})
                set_prop("Campaign Source", source, when)
                set_prop("Campaign Medium", MEDIUM[source], when)
            record(when, anon, "Visited Site", visit)
            t += rng.expovariate(1 / (4 * 86400))
        identified = False
        pricing_p = 0.46 if variant == "A" else 0.53
        if rng.random() < pricing_p:
            tp = rng.choice(visit_times) + rng.uniform(30, 900)
            record(at(tp), anon, "Viewed Pricing", {"URL": "https://example.com/pricing", "Variant": variant})
            if rng.random() < 0.47:
                ts_signup = tp + rng.expovariate(1 / (2 * 86400))
                if ts_signup < span:
                    user = f"user-{i:07d}@example.com"
                    when = at(ts_signup)
                    ds.identities.append((user, pid, when))   # identify(anon, user): NAMED
                    identified = True
                    record(when, user, "Signed Up", {"Plan": "Free", "Variant": variant})
                    set_prop("email", user, when)
                    set_prop("Plan", "Free", when)
                    # Logins: weekly, a decaying chance of coming back.
                    keep = rng.uniform(0.55, 0.95)
                    week, tl = 0, ts_signup
                    second_device = rng.random() < 0.15
                    while week < 40:
                        week += 1
                        if rng.random() > keep ** (week ** 0.5):
                            continue
                        tl = ts_signup + week * 7 * 86400 + rng.uniform(-2, 2) * 86400
                        if tl >= span:
                            break
                        for _ in range(1 + int(rng.expovariate(0.6))):
                            record(at(tl + rng.uniform(0, 86400)), user, "Logged In", {"Variant": variant})
                        if second_device:
                            # A visit on another device, then a login there: identify merges it.
                            second_device = False
                            anon2 = f"anon-{i:07d}-m"
                            pid2 = uuid.uuid5(project_id, anon2)
                            when2 = at(tl - 3600)
                            ds.identities.append((anon2, pid, when2))
                            ds.persons.append((pid2, False, when2, pid, "{}"))
                            ds.merged += 1
                            record(when2, anon2, "Visited Site", {"URL": "https://example.com/login",
                                                                  "Referrer": "", "Variant": variant})
                    # Subscription and monthly billing.
                    if rng.random() < 0.36:
                        ts_sub = ts_signup + rng.expovariate(1 / (6 * 86400))
                        if ts_sub < span:
                            plan, price = PLANS[0] if rng.random() < 0.7 else PLANS[1]
                            when = at(ts_sub)
                            record(when, user, "Subscribed", {"Plan": plan, "Variant": variant})
                            set_prop("Plan", plan, when)
                            months = 1 + int(rng.expovariate(1 / 5))
                            tb = ts_sub
                            for _ in range(months):
                                if tb >= span:
                                    break
                                record(at(tb), user, "Billed", {"Revenue": str(price), "Plan": plan}, price)
                                if rng.random() < 0.03:
                                    tr = tb + rng.uniform(1, 6) * 86400
                                    if tr < span:
                                        record(at(tr), user, "Billed", {"Revenue": str(-price), "Plan": plan,
                                                                        "Refund": "true"}, -price)
                                tb += 30.44 * 86400
        if identified:
            ds.identified += 1
        ds.persons.append((pid, identified, created, None, _json({k: orjson.loads(v) for k, (v, _) in props.items()})))

    raw_events.sort(key=lambda e: e[0])
    ds.events = [(_uuid7(e[0], rng), e[1], e[2], e[3], e[4], e[5], e[0]) for e in raw_events]
    ds.property_changes.sort(key=lambda c: c[3])
    return ds


# ------------------------------------------------------------------ loading


async def create_project(conn, ds: Dataset, name: str) -> None:
    """A project row for the data set (its keys are random hashes: use
    `whodid project rotate-keys NAME --json` to get usable keys)."""
    await conn.execute(
        "INSERT INTO projects (id, name, write_key_hash, read_key_hash) VALUES ($1, $2, $3, $4)",
        ds.project_id, name, os.urandom(32), os.urandom(32))


async def load_database(url: str, ds: Dataset, name: str) -> dict[str, float]:
    """The data set as project `name` of the (migrated) database at `url`:
    create_project then load, on a connection of its own; seconds per step."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await create_project(conn, ds, name)
        return await load(conn, ds)
    finally:
        await conn.close()


async def load(conn, ds: Dataset, *, analyze: bool = True, timeout: float = 1800) -> dict[str, float]:
    """Binary COPY of every table of the data set into its project, then
    VACUUM (ANALYZE) of each table (unless `analyze` is false); seconds per step."""
    p = ds.project_id
    timings = {}
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "persons", columns=["project_id", "id", "identified", "created_at", "merged_into", "properties"],
        records=((p, *row) for row in ds.persons), timeout=timeout)
    timings["persons"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "identities", columns=["project_id", "identity", "person_id", "created_at"],
        records=((p, *row) for row in ds.identities), timeout=timeout)
    timings["identities"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "events", columns=["project_id", "id", "person_id", "identity", "name", "properties", "revenue", "ts",
                           "received_at"],
        records=((p, *row, row[6]) for row in ds.events), timeout=timeout)
    timings["events"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "property_changes", columns=["project_id", "person_id", "key", "value", "at"],
        records=((p, *row) for row in ds.property_changes), timeout=timeout)
    timings["property_changes"] = time.perf_counter() - started
    if analyze:
        # VACUUM (ANALYZE), not just ANALYZE: it marks the loaded pages
        # all-visible, the state autovacuum keeps a live database in, so the
        # reports' index-only scans skip the table as they do in production
        # (straight after a COPY every index entry costs a heap visit).
        # VACUUM cannot run in a transaction block: one statement per call.
        started = time.perf_counter()
        for table in ("persons", "identities", "events", "property_changes"):
            await conn.execute(f"VACUUM (ANALYZE) {table}", timeout=timeout)
        timings["vacuum_analyze"] = time.perf_counter() - started
    return timings


# ------------------------------------------------------------------ for DuckDB


def write_csv(ds: Dataset, folder: Path) -> dict[str, Path]:
    """events.csv (person_id, seq, name, ts, revenue, properties), persons.csv,
    property_changes.csv (person_id, seq, key, value, at): the rows as loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}

    def write(name: str, header: list[str], rows) -> None:
        path = folder / f"{name}.csv"
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(header)
            out.writerows(rows)
        paths[name] = path

    write("events", ["person_id", "seq", "name", "ts", "revenue", "properties"],
          ((e[1], i + 1, e[3], e[6].isoformat(), "" if e[5] is None else str(e[5]), e[4])
           for i, e in enumerate(ds.events)))
    write("persons", ["id", "identified", "merged_into", "properties"],
          ((r[0], r[1], r[3] or "", r[4]) for r in ds.persons))
    write("property_changes", ["person_id", "seq", "key", "value", "at"],
          ((c[0], i + 1, c[1], c[2], c[3].isoformat()) for i, c in enumerate(ds.property_changes)))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="about this many events (people = events / 9.68)")
    ap.add_argument("--people", type=int, default=None, help="this many visitors instead")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--csv", type=Path, default=None, help="write CSV files here")
    ap.add_argument("--parquet", type=Path, default=None, help="write Parquet files here (via DuckDB)")
    ap.add_argument("--database-url", default=None, help="load into a new project of this (migrated) database")
    ap.add_argument("--project-name", default=None)
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 people, summary only")
    args = ap.parse_args()
    if args.quick:
        args.people = 2000
    started = time.perf_counter()
    ds = generate(people=args.people, events=args.events, seed=args.seed)
    print(f"generated {len(ds.events):,} events, {len(ds.persons):,} person rows ({ds.merged:,} merged away,"
          f" {ds.identified:,} identified), {len(ds.identities):,} identities,"
          f" {len(ds.property_changes):,} property changes in {time.perf_counter() - started:.1f} s")
    if args.csv or args.parquet:
        folder = args.csv or Path(tempfile_dir())
        paths = write_csv(ds, folder)
        print("CSV: " + ", ".join(str(p) for p in paths.values()))
        if args.parquet:
            import duckdb

            args.parquet.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect()
            for name, path in paths.items():
                con.execute(f"COPY (SELECT * FROM read_csv('{path}', header=true, all_varchar=true))"
                            f" TO '{args.parquet / (name + '.parquet')}' (FORMAT parquet)")
            print(f"Parquet: {args.parquet}")
    if args.database_url:
        timings = asyncio.run(load_database(
            args.database_url, ds, args.project_name or f"generated-{ds.project_id.hex[:8]}"))
        print("loaded: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="whodid-gen-")


if __name__ == "__main__":
    main()

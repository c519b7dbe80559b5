"""A real read replica (issue 15): a private PostgreSQL primary started by the
test on a free port, a streaming hot standby made from it with pg_basebackup
on another, READ_DATABASE_URL at the standby. Reports read there; a report
cancelled by a recovery conflict is computed again on the primary; with the
replica down, reports go to the primary (a warning and a metric), not errors.

Needs PostgreSQL's server binaries (Debian's /usr/lib/postgresql/*/bin, or
PG_BIN); skipped without them."""
from __future__ import annotations

import asyncio
import glob
import logging
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from app.config import Settings
from app.database import prepare_database
from app.ingest.validation import EventIn
from app.reports.contract import ReportKind
from app.reports.lifecycle import LIFECYCLE, LifecycleSpec
from app.reports.revenue import RevenueSpec
from app.reports.service import ReportService
from app.services import Services
from app.storage.pool import create_pool
from tests.support.database import free_port

SPEC = RevenueSpec(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, tzinfo=timezone.utc))


def _bin() -> Path | None:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"))
    return Path(found[-1]).parent if found else None


BIN = _bin()
pytestmark = pytest.mark.skipif(BIN is None, reason="PostgreSQL server binaries not found")


def _as_owner(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary; as the postgres user when we are root (initdb and
    postgres refuse to run as root)."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, **kwargs)


class Cluster:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        _as_owner([str(BIN / "pg_ctl"), "-D", str(self.folder), "-l", str(self.folder / "log"), "-w", "start"])

    def stop(self) -> None:
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
            + [str(BIN / "pg_ctl"), "-D", str(self.folder), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60)


def _configure(folder: Path, port: int, socket_dir: Path, extra: str = "") -> None:
    with (folder / "postgresql.conf").open("a") as conf:
        conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n"
                   "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n"
                   "shared_buffers = 32MB\n" + extra)


@pytest.fixture(scope="module")
def clusters():
    root = Path(tempfile.mkdtemp(prefix="whodid-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary = Cluster(root / "primary", free_port())
    replica = Cluster(root / "replica", free_port())
    started: list[Cluster] = []
    try:
        _as_owner([str(BIN / "initdb"), "-D", str(primary.folder), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        _configure(primary.folder, primary.port, root)
        with (primary.folder / "pg_hba.conf").open("a") as hba:
            hba.write("\nhost replication all 127.0.0.1/32 trust\n")
        primary.start()
        started.append(primary)
        _as_owner([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "whodid"])
        asyncio.run(prepare_database(primary.url("whodid"), Settings()))
        _as_owner([str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                   "-D", str(replica.folder), "-R", "-X", "stream",
                   # An immediate checkpoint: a spread one paces its writes over
                   # checkpoint_timeout × checkpoint_completion_target (~4.5 min).
                   "-c", "fast"])
        # Conflicts cancel at once (nothing delays replay for a standby query).
        _configure(replica.folder, replica.port, root,
                   "max_standby_streaming_delay = 0\nhot_standby_feedback = off\n")
        replica.start()
        started.append(replica)
        yield primary, replica
    finally:
        for cluster in reversed(started):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def on_primary(clusters):
    primary, _ = clusters
    pool = await create_pool(primary.url("whodid"), min_size=1, max_size=6)
    services = Services.build(Settings(), pool)
    await services.start_areas()
    services.start()
    yield services
    await services.close()
    await pool.close()


async def _replayed(replica, primary_pool) -> None:
    """Wait until the replica has replayed everything the primary committed."""
    lsn = await primary_pool.fetchval("SELECT pg_current_wal_lsn()")
    conn = await asyncpg.connect(replica.url("whodid"))
    try:
        for _ in range(200):
            if await conn.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", lsn):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the replica did not catch up")


async def _only_the_sleeping_part_left(replica) -> None:
    """Wait until the replica runs the part that sleeps and no other session
    of the report is in a transaction (the other part done and committed).
    A conflict replayed while a part's connection is between two statements
    of its transaction ends that session instead of cancelling a statement
    (FATAL while idle, which asyncpg only sees as a closed connection): the
    service then falls back as for a replica that is down, and the test
    would not be of the conflict it means (it failed so once in CI)."""
    conn = await asyncpg.connect(replica.url("whodid"))
    try:
        for _ in range(500):
            sleeping, others = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE state = 'active' AND query LIKE '%pg_sleep(CASE%'),
                          count(*) FILTER (WHERE xact_start IS NOT NULL AND query NOT LIKE '%pg_sleep(CASE%')
                   FROM pg_stat_activity
                   WHERE datname = current_database() AND backend_type = 'client backend'
                     AND pid <> pg_backend_pid()""")
            if sleeping == 1 and others == 0:
                return
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    raise AssertionError("the parts did not settle on the replica")


async def _replica_service(replica, on_primary) -> ReportService:
    reports = ReportService(Settings(read_database_url=replica.url("whodid"), report_ttl=0), on_primary.pool)
    await reports.start()
    return reports


async def test_reports_read_on_the_replica(clusters, on_primary):
    primary, replica = clusters
    assert await on_primary.pool.fetchval("SELECT pg_is_in_recovery()") is False
    keys = await on_primary.auth.create_project("replica-reads")
    await on_primary.ingest.record_event(keys.id, EventIn("a", "Billed", {"Revenue": "10"}, SPEC.from_))
    await _replayed(replica, on_primary.pool)
    reports = await _replica_service(replica, on_primary)
    control = await asyncpg.connect(replica.url("whodid"))
    try:
        assert await control.fetchval("SELECT pg_is_in_recovery()") is True
        assert str((await reports.revenue(keys.id, SPEC)).value.money.total) == "10"
        # Replay paused: the primary moves on, the answer stays the replica's.
        await control.execute("SELECT pg_wal_replay_pause()")
        await on_primary.ingest.record_event(keys.id, EventIn("b", "Billed", {"Revenue": "5"}, SPEC.from_))
        assert str((await reports.revenue(keys.id, SPEC)).value.money.total) == "10"
        await control.execute("SELECT pg_wal_replay_resume()")
        await _replayed(replica, on_primary.pool)
        assert str((await reports.revenue(keys.id, SPEC)).value.money.total) == "15"
        assert sum(reports.replica_fallbacks.values()) == 0
    finally:
        await control.execute("SELECT pg_wal_replay_resume()")
        await control.close()
        await reports.close()


async def test_a_report_in_parts_reads_on_the_replica_in_one_snapshot(clusters, on_primary):
    """Lifecycle split over two connections of the read pool
    (ReportKind.build_parts): both parts on the replica, in the snapshot the
    first one exported there (PostgreSQL 10+ on a hot standby); events
    committed on the primary and replayed between the export and the second
    part's start are not seen."""
    primary, replica = clusters
    keys = await on_primary.auth.create_project("replica-parts")
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    spec = LifecycleSpec("Used", day, day + timedelta(days=14))

    def used(prefix: str) -> list[EventIn]:
        return [EventIn(f"{prefix}{i}", "Used", None, day + timedelta(days=i % 14)) for i in range(40)]

    await on_primary.ingest.record_events(keys.id, used("a"))
    await _replayed(replica, on_primary.pool)
    reports = await _replica_service(replica, on_primary)
    primary_reports = ReportService(Settings(report_ttl=0, report_parts=1), on_primary.pool)

    async def late(snapshot: str) -> None:
        await on_primary.ingest.record_events(keys.id, used("late"))
        await _replayed(replica, on_primary.pool)

    try:
        want = (await primary_reports.report(LIFECYCLE, keys.id, spec)).value
        reports.after_snapshot_export = late
        assert (await reports.report(LIFECYCLE, keys.id, spec)).value == want
        reports.after_snapshot_export = None
        assert reports.split_computations["lifecycle"] == 1
        assert sum(reports.replica_fallbacks.values()) == 0
        later = (await reports.report(LIFECYCLE, keys.id, spec)).value
        assert later != want
        assert later == (await primary_reports.report(LIFECYCLE, keys.id, spec)).value
        assert reports.split_computations["lifecycle"] == 2
    finally:
        await reports.close()
        await primary_reports.close()


async def test_a_recovery_conflict_is_computed_again_on_the_primary(clusters, on_primary, caplog):
    primary, replica = clusters
    keys = await on_primary.auth.create_project("replica-conflict")
    await on_primary.ingest.record_events(
        keys.id, [EventIn(f"p{i}", "Billed", {"Revenue": "1"}, SPEC.from_) for i in range(200)])
    await _replayed(replica, on_primary.pool)
    reports = await _replica_service(replica, on_primary)
    snapshot_taken = asyncio.Event()
    where: list[bool] = []

    async def compute(conn, computed_at):
        on_replica = await conn.fetchval("SELECT pg_is_in_recovery()")
        where.append(on_replica)
        count = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", keys.id)
        if on_replica:
            snapshot_taken.set()
            await conn.execute("SELECT pg_sleep(25)")  # cancelled by the conflict
        return count

    class Spec:
        def cache_key(self) -> str:
            return "conflict"

    async def conflict() -> None:
        await snapshot_taken.wait()
        # Rows the replica's snapshot still sees, removed and vacuumed away
        # (again until the report is done: a transaction on the primary, e.g.
        # the statistics keeper's ANALYZE, may hold the cleanup back a moment).
        await on_primary.pool.execute("DELETE FROM events WHERE project_id = $1 AND identity <> 'p0'", keys.id)
        while len(where) < 2:
            await on_primary.pool.execute("VACUUM events")
            await asyncio.sleep(0.3)

    caplog.set_level(logging.WARNING, logger="whodid.reports")
    try:
        report, _ = await asyncio.wait_for(
            asyncio.gather(reports.run("conflict", keys.id, Spec(), compute), conflict()), 30)
        assert where == [True, False]  # started on the replica, answered by the primary
        assert report.value == 1
        assert reports.replica_fallbacks["recovery_conflict"] == 1
        assert any("recovery conflict" in r.getMessage() for r in caplog.records)
    finally:
        await reports.close()


async def test_a_recovery_conflict_during_the_parts_is_computed_again_on_the_primary(clusters, on_primary):
    """While the parts run on the replica, it replays a cleanup that their
    snapshot still needs: the part on the exporting connection is cancelled
    (40001), the report computed again on the primary, not failed. (The
    first part sleeps on the replica until the conflict meets it running.)"""
    primary, replica = clusters
    keys = await on_primary.auth.create_project("replica-parts-conflict")
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    spec = LifecycleSpec("Used", day, day + timedelta(days=14))
    await on_primary.ingest.record_events(
        keys.id, [EventIn(f"p{i}", "Used", None, day + timedelta(days=i % 14)) for i in range(40)])
    await _replayed(replica, on_primary.pool)
    reports = await _replica_service(replica, on_primary)
    primary_reports = ReportService(Settings(report_ttl=0, report_parts=1), on_primary.pool)
    assert LIFECYCLE.build_parts is not None
    real = LIFECYCLE.build_parts

    def slow_parts(project_id, s, n):
        (sql, params), *rest = real(project_id, s, n)
        # On the replica the first part waits until the conflict cancels it
        # (a fixed short sleep could end before the replay reached it on a
        # loaded machine: no conflict, a failed test); on the primary, where
        # the report is computed again, it does not wait.
        return [(f"SELECT t.* FROM ({sql}) t CROSS JOIN pg_sleep(CASE WHEN pg_is_in_recovery() THEN 20 ELSE 0 END)",
                 params), *rest]

    kind = ReportKind("lifecycle.slow", LIFECYCLE.build, LIFECYCLE.assemble, build_parts=slow_parts)
    exported = asyncio.Event()

    async def note(snapshot: str) -> None:
        exported.set()

    async def conflict() -> None:
        await exported.wait()
        await _only_the_sleeping_part_left(replica)
        await on_primary.pool.execute(
            "DELETE FROM events WHERE project_id = $1 AND identity <> 'p0'", keys.id)
        # Vacuumed until the report is answered (a transaction on the
        # primary, e.g. the statistics keeper's ANALYZE, may hold the
        # cleanup back a moment).
        while not done.is_set():
            await on_primary.pool.execute("VACUUM events")
            await asyncio.sleep(0.2)

    done = asyncio.Event()

    async def ask():
        try:
            return (await reports.report(kind, keys.id, spec)).value
        finally:
            done.set()

    try:
        want = (await primary_reports.report(LIFECYCLE, keys.id, spec)).value
        reports.after_snapshot_export = note
        got, _ = await asyncio.wait_for(asyncio.gather(ask(), conflict()), 30)
        assert reports.replica_fallbacks == {"recovery_conflict": 1}, reports.replica_fallbacks
        # Computed again on the primary, after the delete: p0's events only.
        assert got == (await primary_reports.report(LIFECYCLE, keys.id, spec)).value != want
    finally:
        reports.after_snapshot_export = None
        await reports.close()
        await primary_reports.close()


async def test_replica_down_means_the_primary_with_a_warning_and_a_metric(clusters, on_primary, caplog):
    from prometheus_client import REGISTRY

    primary, replica = clusters
    keys = await on_primary.auth.create_project("replica-down")
    await on_primary.ingest.record_event(keys.id, EventIn("a", "Billed", {"Revenue": "7"}, SPEC.from_))
    replica.stop()
    before = REGISTRY.get_sample_value("whodid_report_replica_fallbacks_total", {"reason": "down"}) or 0
    caplog.set_level(logging.WARNING, logger="whodid.reports")
    reports = await _replica_service(replica, on_primary)  # starts although the replica is down
    try:
        assert str((await reports.revenue(keys.id, SPEC)).value.money.total) == "7"
        assert str((await reports.revenue(keys.id, SPEC)).value.money.total) == "7"  # skipped for a while
        assert reports.replica_fallbacks["down"] == 2
        assert REGISTRY.get_sample_value("whodid_report_replica_fallbacks_total", {"reason": "down"}) == before + 2
        assert sum("read replica is down" in r.getMessage() for r in caplog.records) == 1
    finally:
        await reports.close()
        replica.start()  # the module's other tests read there, in whatever order they run

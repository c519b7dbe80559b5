"""Report generations followed by NOTIFY (app/reports/generations.py): a
second process's report service, with a listener of its own, learns of a
deletePerson made elsewhere from the notification alone, and reads from the
primary while its listener is down."""
from __future__ import annotations

import asyncio
import secrets

from app.config import Settings
from app.ingest.validation import EventIn
from app.reports.revenue import RevenueSpec
from app.reports.service import ReportService
from app.storage.listener import Listener, pool_connector
from tests.support.scenarios import T

SPEC = RevenueSpec(T(2024, 1, 1), T(2024, 3, 1))


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_second_process_learns_the_new_generation_by_notify(services, project):
    ingest = services.ingest
    await ingest.record_events(project.id, [EventIn("gone", "Billed", {"Revenue": "10"}, T(2024, 1, 4)),
                                            EventIn("stays", "Billed", {"Revenue": "5"}, T(2024, 1, 9))])
    # The second "process": its own listener connection and its own cache.
    # (min_backoff 1 s: at least 0.8 s between the kill and the reconnect.)
    listener = Listener(pool_connector(services.pool), health_interval=0.2, min_backoff=1.0)
    other = ReportService(Settings(redis_url=None, report_ttl=600), services.pool,
                          namespace=f"whodid-test:{secrets.token_hex(6)}")
    other.follow_generations(listener)
    await listener.start()
    try:
        first = await other.revenue(project.id, SPEC)
        assert str(first.value.money.total) == "15" and not first.cached
        for _ in range(3):
            assert (await other.revenue(project.id, SPEC)).cached
        assert other.generations.reads == 1  # read once, then held

        heard = other.generations.notified
        assert (await ingest.delete_person(project.id, identity="gone")).deleted
        await eventually(lambda: other.generations.notified > heard)
        after = await other.revenue(project.id, SPEC)
        assert str(after.value.money.total) == "5" and not after.cached
        # Learned from the notification: no read of the primary since.
        assert other.generations.reads == 1
        assert (await other.revenue(project.id, SPEC)).cached

        # The listener's connection is killed: until it listens again, every
        # report reads the generation from the primary.
        await services.pool.execute("SELECT pg_terminate_backend($1::int)", listener.connection.get_server_pid())
        await eventually(lambda: not other.generations.listening)
        reads = other.generations.reads
        assert str((await other.revenue(project.id, SPEC)).value.money.total) == "5"
        await eventually(lambda: listener.listening and listener.connects == 2)
        await other.revenue(project.id, SPEC)
        await other.revenue(project.id, SPEC)
        assert other.generations.reads - reads == 2  # one while down, one after, then held
        assert other.generations.listening
    finally:
        await listener.close()
        await other.close()


async def test_the_deleting_process_reads_again_at_once(services, project):
    """The process that deleted does not wait for its own notification."""
    ingest = services.ingest
    await ingest.record_events(project.id, [EventIn("gone", "Billed", {"Revenue": "10"}, T(2024, 1, 4)),
                                            EventIn("stays", "Billed", {"Revenue": "5"}, T(2024, 1, 9))])
    reports = services.reports
    assert str((await reports.revenue(project.id, SPEC)).value.money.total) == "15"
    assert (await ingest.delete_person(project.id, identity="gone")).deleted
    # No await in between that could have let the notification in.
    after = await reports.revenue(project.id, SPEC)
    assert str(after.value.money.total) == "5" and not after.cached

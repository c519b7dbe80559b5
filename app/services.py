"""The services a process holds, built once in the server's lifespan (or by the
CLI) and handed to every transport."""
from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from .auth import AuthService
from .config import Settings
from .ingest.service import IngestService
from .ingest.writer import Writer
from .live.bus import LiveBus, pool_connector
from .reports.service import ReportService
from .storage.events import EventRepository
from .storage.people import PeopleRepository
from .storage.projects import ProjectRepository


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    writer: Writer
    ingest: IngestService
    auth: AuthService
    people: PeopleRepository
    events: EventRepository
    # Reports run through the report cache and timeout (app/reports/service.py).
    reports: ReportService | None = None
    # Live events: the publisher in the writer and this process's LISTEN fan-out.
    live: LiveBus | None = None
    closers: list = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool, *, flushers: int = 2) -> "Services":
        writer = Writer(pool, flushers=flushers, max_batch=settings.writer_max_batch)
        events = EventRepository(pool)
        live = LiveBus(pool_connector(pool), pool, events, queue_size=settings.live_queue_size)
        # Inside each flush's transaction: one pg_notify statement per project.
        writer.publishers.append(live.publish)
        return cls(
            settings=settings,
            pool=pool,
            writer=writer,
            ingest=IngestService(pool, writer),
            auth=AuthService(ProjectRepository(pool)),
            people=PeopleRepository(pool),
            events=events,
            reports=ReportService(settings, pool),
            live=live,
        )

    async def start_areas(self, *, key_cache: bool = False) -> None:
        """Start the reports (read-replica pool), the live bus and, in a process
        that serves HTTP, the key cache: authenticating a request then costs no
        query, and every process empties it whenever keys change (app/auth.py)."""
        if self.reports is not None:
            await self.reports.start()
        if self.live is not None:
            # Its LISTEN connection; closed after the writer has drained.
            await self.live.start()
            self.closers.append(self.live.close)
        if key_cache:
            await self.auth.start_key_cache(self.pool)
            self.closers.append(self.auth.close_key_cache)

    def start(self) -> None:
        self.writer.start()

    async def close(self) -> None:
        await self.writer.close()
        for closer in reversed(self.closers):
            await closer()
        if self.reports is not None:
            await self.reports.close()

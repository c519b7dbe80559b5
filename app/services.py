"""The services a process holds, built once in the server's lifespan (or by the
CLI) and handed to every transport."""
from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from .auth import AuthService
from .config import Settings
from .storage.persisted_queries import PersistedQueryStore
from .ingest.service import IngestService
from .ingest.writer import Writer
from .live.bus import LiveBus
from .reports.service import ReportService
from .storage.events import EventRepository
from .storage.listener import Listener, pool_connector
from .storage.people import PeopleRepository
from .storage.projects import ProjectRepository
from .storage.retention import RetentionKeeper
from .storage.statistics import StatisticsKeeper


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
    # The process's one LISTEN connection: live events and key changes.
    listener: Listener | None = None
    # Live events: the publisher in the writer and this process's LISTEN fan-out.
    live: LiveBus | None = None
    # The planner's statistics kept up with what the writer adds.
    statistics: StatisticsKeeper | None = None
    # Automatic persisted queries: the store (app/storage/persisted_queries.py; memory, and Redis when
    # configured) that app/graphql/persisted.py runs the protocol on.
    persisted: PersistedQueryStore | None = None
    # Events past a project's retention removed in the background (servers only).
    retention: RetentionKeeper | None = None
    closers: list = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool, *, flushers: int = 2) -> "Services":
        writer = Writer(pool, flushers=flushers, max_batch=settings.writer_max_batch)
        events = EventRepository(pool)
        listener = Listener(pool_connector(pool))
        live = LiveBus(listener, pool, events, queue_size=settings.live_queue_size)
        # Inside each flush's transaction: one pg_notify statement per project.
        writer.publishers.append(live.publish)
        statistics = StatisticsKeeper(pool)
        writer.growth_observers.append(statistics.note_written)
        ingest = IngestService(pool, writer)
        reports = ReportService(settings, pool, statistics=statistics)
        # A deletion in this process: its report generations are read again at once.
        ingest.removal_observers.append(reports.generations.forget)
        return cls(
            settings=settings,
            pool=pool,
            writer=writer,
            ingest=ingest,
            auth=AuthService(ProjectRepository(pool)),
            people=PeopleRepository(pool),
            events=events,
            reports=reports,
            listener=listener,
            live=live,
            statistics=statistics,
            persisted=PersistedQueryStore(redis_url=settings.redis_url, max_entries=settings.apq_max_entries,
                                          ttl=settings.apq_ttl),
        )

    async def start_areas(self, *, key_cache: bool = False) -> None:
        """Start the reports (read-replica pool), the live bus and, in a process
        that serves HTTP, the key cache: authenticating a request then costs no
        query, and every process empties it whenever keys change (app/auth.py).
        Both listen on the process's one listener, started last."""
        if self.reports is not None:
            await self.reports.start()
            self.reports.follow_generations(self.listener)
        if self.live is not None:
            self.live.start()
            self.closers.append(self.live.close)
        if key_cache:
            self.auth.start_key_cache(self.listener)
            self.closers.append(self.auth.close_key_cache)
        # Closed first (closers run in reverse): the key cache stops serving at once.
        await self.listener.start()
        self.closers.append(self.listener.close)

    def start(self) -> None:
        self.writer.start()
        if self.statistics is not None:
            self.statistics.start()

    def start_retention(self) -> None:
        """The retention keeper of a serving process (app/storage/retention.py)."""
        if self.retention is None:
            self.retention = RetentionKeeper(
                self.pool, interval=self.settings.retention_interval, batch=self.settings.retention_batch)
            if self.reports is not None:
                self.retention.bump_observers.append(self.reports.generations.forget)
        self.retention.start()

    async def settle(self) -> None:
        """What a loading command (import, demo) does before it ends: every
        write committed, and the planner's statistics caught up with them, so
        that the first report after it plans on the data as it is."""
        await self.writer.close()
        if self.statistics is not None:
            await self.statistics.keep_up()

    async def close(self) -> None:
        if self.retention is not None:
            await self.retention.close()
        await self.writer.close()
        if self.statistics is not None:
            await self.statistics.close()
        for closer in reversed(self.closers):
            await closer()
        if self.reports is not None:
            await self.reports.close()
        if self.persisted is not None:
            await self.persisted.close()

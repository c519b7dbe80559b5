"""The services a process holds, built once in the server's lifespan (or by the
CLI) and handed to every transport."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .auth import AuthService
from .config import Settings
from .ingest.service import IngestService
from .ingest.writer import Writer
from .storage.events import EventRepository
from .storage.people import PeopleRepository
from .storage.projects import ProjectRepository


# Async callables(services) run at start by areas that need per-process state.
AREA_HOOKS: list = []


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    writer: Writer
    ingest: IngestService
    auth: AuthService
    people: PeopleRepository
    events: EventRepository
    # Filled by the areas that land later (reports, live); None when absent.
    reports: Any = None
    live: Any = None
    extra: dict = field(default_factory=dict)
    closers: list = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool, *, flushers: int = 2) -> "Services":
        writer = Writer(pool, flushers=flushers, max_batch=settings.writer_max_batch)
        return cls(
            settings=settings,
            pool=pool,
            writer=writer,
            ingest=IngestService(pool, writer),
            auth=AuthService(ProjectRepository(pool)),
            people=PeopleRepository(pool),
            events=EventRepository(pool),
        )

    async def start_areas(self) -> None:
        """Attach the optional areas (reports, live) that exist in this build."""
        for hook in AREA_HOOKS:
            await hook(self)

    def start(self) -> None:
        self.writer.start()

    async def close(self) -> None:
        await self.writer.close()
        for closer in reversed(self.closers):
            await closer()

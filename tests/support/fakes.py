"""Fakes for unit tests of the services without a database: a writer that
records what it is given, a listener that only remembers its channels, an
event repository serving rows from a dict, and a pool whose connection
records its statements."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from app.ingest.writer import EventWrite, PropertyWrite, Recorded
from app.storage.events import EventRow

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def event_row(project_id: uuid.UUID, name: str = "Signed Up", identity: str = "ann", seq: int = 1,
              revenue: Decimal | None = None) -> EventRow:
    return EventRow(id=uuid.uuid4(), seq=seq, name=name, person_id=uuid.uuid5(project_id, identity),
                    identity=identity, properties={}, revenue=revenue, timestamp=T0, received_at=T0)


class FakeWriter:
    """Takes writes as the group-commit writer does and answers at once:
    events as new rows, property sets with the person id."""

    def __init__(self, fail: Exception | None = None):
        self.writes: list[EventWrite | PropertyWrite] = []
        self.fail = fail

    async def submit(self, write: EventWrite | PropertyWrite):
        if self.fail is not None:
            raise self.fail
        self.writes.append(write)
        if isinstance(write, PropertyWrite):
            return uuid.uuid5(write.project_id, write.identity)
        return [Recorded(event_row(write.project_id, e.name, e.identity, seq=i), False)
                for i, e in enumerate(write.events, start=1)]


class FakeListener:
    def __init__(self) -> None:
        self.channels: dict[str, tuple] = {}

    def listen(self, channel, on_notify, on_state=None) -> None:
        self.channels[channel] = (on_notify, on_state)


class FakeEvents:
    """EventRepository.by_ids over rows held in a dict."""

    def __init__(self, rows: list[EventRow] = ()):
        self.rows = {row.id: row for row in rows}
        self.asked: list[list[uuid.UUID]] = []

    async def by_ids(self, project_id: uuid.UUID, ids: list[uuid.UUID]) -> list[EventRow]:
        self.asked.append(list(ids))
        return [self.rows[i] for i in ids if i in self.rows]


class FakeConnection:
    def __init__(self, rows: list | None = None):
        self.statements: list[tuple[str, tuple]] = []
        self.rows = rows or []
        self.transactions: list[dict] = []

    def transaction(self, **options):
        self.transactions.append(options)
        return _AsyncNull()

    async def execute(self, sql: str, *args) -> str:
        self.statements.append((sql, args))
        return "SET"

    async def fetch(self, sql: str, *args) -> list:
        self.statements.append((sql, args))
        return self.rows


class _AsyncNull:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc) -> bool:
        return False


class FakePool:
    """acquire() hands out one FakeConnection (and counts the hand-outs)."""

    def __init__(self, connection: FakeConnection | None = None, delay: float = 0.0):
        self.connection = connection or FakeConnection()
        self.acquired = 0
        self.delay = delay
        self.generation = 0

    async def fetchval(self, sql: str, *args):
        """The project's report generation (what the report service asks the primary)."""
        return self.generation

    @contextlib.asynccontextmanager
    async def acquire(self):
        self.acquired += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        yield self.connection

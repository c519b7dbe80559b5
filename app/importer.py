"""`whodid import`: replay a Kissmetrics export (JSON lines) through the ingest
service.

A line is an event when it has `_n`; an alias of `_p` and `_p2` when it has
`_p2` and no `_n`; otherwise a property set. `_t` (unix seconds) is the time
of each; every other key is a property, kept as exported. Lines are checked
first with the ingest rules (pure), so a bad line is reported by its number
and never spoils the batch it would have joined; the good ones are replayed
in timestamp order. Events get the same idempotency id as `/e` with `_d=1`,
so importing a file twice stores each event once."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

from .errors import BadInput, NotFound
from .ingest.fields import renamed
from .ingest.kissmetrics import event_id, unix_time
from .ingest.plan import Link, SetTraits, check_link, check_traits
from .ingest.validation import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, EventIn, normalise_event

RESERVED = frozenset({"_p", "_p2", "_n", "_t", "_d", "_k"})
# The ingest rules' field names in an export's terms.
FIELDS = {"input.identity": "_p", "input.otherIdentity": "_p2", "input.name": "_n", "input.timestamp": "_t",
          "input.properties": "properties", "input.id": "_t"}
# Event batches replayed at once between two aliases or property sets.
IN_FLIGHT_BATCHES = 4


@dataclass(frozen=True)
class ExportEvent:
    line: int
    at: datetime
    event: EventIn
    size: int


@dataclass(frozen=True)
class ExportAlias:
    line: int
    at: datetime
    identity: str
    other: str


@dataclass(frozen=True)
class ExportSet:
    line: int
    at: datetime
    identity: str
    properties: dict


ExportLine = ExportEvent | ExportAlias | ExportSet


class UnreadableFile(Exception):
    """The export file cannot be opened or read."""


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass
class Parsed:
    lines: list[ExportLine] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


@dataclass
class Report:
    events: int = 0
    duplicates: int = 0
    aliases: int = 0
    property_sets: int = 0
    bad: list[BadLine] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.events + self.duplicates + self.aliases + self.property_sets


# ------------------------------------------------------------------ parsing (pure)


def _identity(value: object, key: str) -> str:
    # Exports hold identities as strings; a number is taken as its text.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadInput(key, "must be a string")
    return str(value)


def parse_line(number: int, raw: bytes, now: datetime) -> ExportLine | BadLine | None:
    """One line of an export; None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine(number, "not valid UTF-8")
    if not text.strip():
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return BadLine(number, f"not valid JSON ({exc})")
    if not isinstance(data, dict):
        return BadLine(number, "not a JSON object")
    try:
        if "_p" not in data:
            raise BadInput("_p", "the identity is missing")
        if "_t" not in data:
            raise BadInput("_t", "the time is missing")
        identity = _identity(data["_p"], "_p")
        at, time_text = unix_time(data["_t"], "_t")
        properties = {key: value for key, value in data.items() if key not in RESERVED}
        if "_n" in data:
            name = data["_n"]
            if not isinstance(name, str):
                raise BadInput("_n", "the event name must be a string")
            event = EventIn(identity, name, properties, at, event_id(identity, name, time_text))
            normal = normalise_event(event, now)
            return ExportEvent(number, at, event, normal.size)
        if "_p2" in data:
            other = _identity(data["_p2"], "_p2")
            check_link(Link(identity, other, alias=True, fields=FIELDS))
            return ExportAlias(number, at, identity, other)
        if not properties:
            raise BadInput("properties", "a line without _n or _p2 must set at least one property")
        check_traits(SetTraits(identity, properties, at, FIELDS), now)
        return ExportSet(number, at, identity, properties)
    except BadInput as exc:
        return BadLine(number, _line_reason(exc))


def _line_reason(exc: BadInput) -> str:
    # The ingest rules name their own fields ("input.name"); say it in export terms.
    return renamed(exc, FIELDS).message


def parse_lines(lines: Iterable[bytes], now: datetime) -> Parsed:
    parsed = Parsed()
    for number, raw in enumerate(lines, start=1):
        result = parse_line(number, raw.rstrip(b"\r\n"), now)
        if isinstance(result, BadLine):
            parsed.bad.append(result)
        elif result is not None:
            parsed.lines.append(result)
    # Replay in time order; the file order breaks ties.
    parsed.lines.sort(key=lambda line: (line.at, line.line))
    return parsed


def batches(lines: list[ExportLine]) -> Iterable[list[ExportEvent] | ExportAlias | ExportSet]:
    """Consecutive events grouped into ingest batches (≤ 1000 events, ≤ 512 KiB);
    aliases and property sets one by one, in between, in time order."""
    batch: list[ExportEvent] = []
    size = 0
    for line in lines:
        if isinstance(line, ExportEvent):
            if batch and (len(batch) >= MAX_BATCH_EVENTS or size + line.size > MAX_BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(line)
            size += line.size
        else:
            if batch:
                yield batch
                batch, size = [], 0
            yield line
    if batch:
        yield batch


# ------------------------------------------------------------------ replaying (I/O)


async def replay(services, project_id: uuid.UUID, parsed: Parsed,
                 progress: Callable[[int], None] = lambda n: None) -> Report:
    """Replay the parsed lines through the ingest service."""
    ingest = services.ingest
    report = Report(bad=list(parsed.bad))
    in_flight: set[asyncio.Task] = set()

    async def record(events: list[ExportEvent]) -> None:
        try:
            recorded = await ingest.record_events(project_id, [e.event for e in events])
        except BadInput:
            # Checked up front, so this is rare (a clock moved?): find the culprit one by one.
            recorded = []
            for line in events:
                try:
                    recorded.append(await ingest.record_event(project_id, line.event))
                except BadInput as exc:
                    report.bad.append(BadLine(line.line, _line_reason(exc)))
        for result in recorded:
            if result.duplicate:
                report.duplicates += 1
            else:
                report.events += 1
        progress(len(events))

    async def drain() -> None:
        if in_flight:
            await asyncio.gather(*in_flight)
            in_flight.clear()

    for item in batches(parsed.lines):
        if isinstance(item, list):
            if len(in_flight) >= IN_FLIGHT_BATCHES:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight.difference_update(done)
                for task in done:
                    task.result()
            in_flight.add(asyncio.create_task(record(item)))
            continue
        await drain()  # an alias or a property set happens after the events before it
        try:
            if isinstance(item, ExportAlias):
                await ingest.alias(project_id, item.identity, item.other, force=False)
                report.aliases += 1
            else:
                await ingest.set_properties(project_id, item.identity, item.properties, item.at)
                report.property_sets += 1
        except BadInput as exc:
            report.bad.append(BadLine(item.line, _line_reason(exc)))
        progress(1)
    await drain()
    report.bad.sort(key=lambda bad: bad.line)
    return report


async def import_file(services, project_name: str, path: Path,
                      progress_factory: Callable[[int], Any] | None = None) -> Report:
    """Parse `path` and replay it into the project named `project_name`."""
    project = await services.auth.projects.by_name(project_name)
    if project is None:
        raise NotFound(f"no project named {project_name!r}")
    try:
        with path.open("rb") as handle:
            parsed = parse_lines(handle, datetime.now(timezone.utc))
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror or exc}") from None
    bar = progress_factory(len(parsed.lines)) if progress_factory else None
    try:
        return await replay(services, project.id, parsed, bar.update if bar else (lambda n: None))
    finally:
        if bar is not None:
            bar.close()

"""`whodid import`: a Kissmetrics export replayed through the ingest service.
The command runs for real (a subprocess against the test database)."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import orjson

from app.importer import BadLine, ExportAlias, ExportEvent, ExportSet, batches, parse_lines

T0 = 1_700_000_000
ROOT = Path(__file__).resolve().parents[2]


def line(**data) -> bytes:
    return orjson.dumps(data)


EXPORT = [
    line(_n="Visited Site", _p="anon-1", _t=T0, URL="https://shop.example/?utm_source=ads"),  # 1
    b'{"_n": "Broken", ',                                                                   # 2: not JSON
    line(_p="anon-1", _t=T0 + 10, Plan="Pro"),                                               # 3: property set
    line(_n="Signed Up", _p="bob@example.com", _t=T0 + 20, Revenue="10.50"),                 # 4
    line(_p="anon-1", _p2="bob@example.com", _t=T0 + 30),                                    # 5: alias
    b"",                                                                                     # 6: blank
    line(_n="No Time", _p="anon-1"),                                                         # 7: no _t
    line(_n="Paid", _p="bob@example.com", _t=T0 + 40, Revenue="lots"),                       # 8: bad Revenue
    line(_n="Early Bird", _p="anon-1", _t=T0 - 100),                                         # 9: earlier than line 1
    b'{"_n": "Caf\xe9", "_p": "x", "_t": 1700000000}',                                       # 10: not UTF-8
    line(_p="anon-1", _p2="null", _t=T0 + 50),                                               # 11: refused identity
    line(_n="Paid", _p="bob@example.com", _t=T0 + 60, Revenue=5),                            # 12
]


def test_parsing_reports_bad_lines_and_orders_by_time():
    parsed = parse_lines(EXPORT, datetime.now(timezone.utc))
    assert [bad.line for bad in parsed.bad] == [2, 7, 8, 10, 11]
    assert all(isinstance(bad, BadLine) and bad.reason for bad in parsed.bad)
    assert next(b for b in parsed.bad if b.line == 8).reason.startswith("properties.Revenue")
    assert [item.line for item in parsed.lines] == [9, 1, 3, 4, 5, 12]
    kinds = [type(item) for item in parsed.lines]
    assert kinds == [ExportEvent, ExportEvent, ExportSet, ExportEvent, ExportAlias, ExportEvent]
    grouped = list(batches(parsed.lines))
    assert [len(g) if isinstance(g, list) else type(g).__name__ for g in grouped] == [
        2, "ExportSet", 1, "ExportAlias", 1]


async def run_import(database_url: str, path: Path, project: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "import", str(path), "--project", project,
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_import_twice_stores_once_reports_bad_lines_and_merges(database_url, project, readback, tmp_path):
    export = tmp_path / "export.json"
    export.write_bytes(b"\n".join(EXPORT) + b"\n")

    code, out, err = await run_import(database_url, export, project.name)
    assert code == 0, out + err
    assert "imported 4 new events (0 already there), 1 aliases, 1 property sets" in out
    for number in (2, 7, 8, 10, 11):
        assert f"line {number}:" in out
    assert "skipped 5 bad lines" in out
    assert "importing export.json" in err  # the progress bar

    code, out, err = await run_import(database_url, export, project.name)
    assert code == 0, out + err
    assert "imported 0 new events (4 already there)" in out

    person = await readback.person("bob@example.com")
    assert sorted(person["identities"]) == ["anon-1", "bob@example.com"]
    assert person["identified"] is True
    assert person["properties"] == {"Plan": "Pro"}
    events = sorted((e["name"], e["timestamp"]) for e in person["events"]["nodes"])
    assert [name for name, _ in events] == ["Early Bird", "Paid", "Signed Up", "Visited Site"]
    assert person["lifetimeRevenue"] == "15.50"
    assert len(await readback.events()) == 4


async def test_import_errors_exit_nonzero(database_url, project, tmp_path):
    export = tmp_path / "export.json"
    export.write_bytes(line(_n="A", _p="a", _t=T0) + b"\n")
    code, out, err = await run_import(database_url, export, "no-such-project")
    assert code != 0 and "no project named 'no-such-project'" in err

    code, out, err = await run_import(database_url, tmp_path / "missing.json", project.name)
    assert code != 0 and "missing.json" in err

    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"hello\nworld\n")
    code, out, err = await run_import(database_url, garbage, project.name)
    assert code != 0 and "line 1:" in out and "line 2:" in out

    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    code, out, err = await run_import(database_url, empty, project.name)
    assert code == 0, out + err

"""Export (issue 15): `whodid export` writes Kissmetrics export lines that
`whodid import` reads back into an empty project with the same reports;
`whodid person export` writes one person's data as JSON."""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import orjson

from app.demo import DAYS, load_demo
from app.exporter import export_project, unix_text
from app.importer import import_file
from app.ingest.validation import EventIn
from app.reports.cohort import CohortSpec
from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec
from app.reports.periods import Period
from app.reports.revenue import RevenueSpec

from tests.support.report_values import ANCHOR, plain
from tests.support.scenarios import T, fresh_project

ROOT = Path(__file__).resolve().parents[2]
FROM = ANCHOR - timedelta(days=DAYS)


async def reports(services, project_id) -> dict:
    r = services.reports
    funnel_steps = (FunnelStepSpec("Visited Site"), FunnelStepSpec("Viewed Pricing Page"),
                    FunnelStepSpec("Signed Up"), FunnelStepSpec("Billed"))
    return {
        "funnel": plain((await r.funnel(project_id, FunnelSpec(funnel_steps, FROM, ANCHOR, 14 * 86400))).value),
        "funnel by experiment": plain((await r.funnel(project_id, FunnelSpec(
            funnel_steps, FROM, ANCHOR, None, SegmentSpec(person_property="Pricing Page Experiment")))).value),
        "funnel by source": plain((await r.funnel(project_id, FunnelSpec(
            funnel_steps[:3], FROM, ANCHOR, None, SegmentSpec(first_step_property="URL")))).value),
        "cohort": plain((await r.cohort(project_id, CohortSpec(
            "Signed Up", "Logged In", FROM, ANCHOR, Period.MONTH, Period.WEEK, 8))).value),
        "cohort daily": plain((await r.cohort(project_id, CohortSpec(
            "Visited Site", "Visited Site", FROM, ANCHOR, Period.WEEK, Period.DAY, 10))).value),
        "revenue": plain((await r.revenue(project_id, RevenueSpec(FROM, ANCHOR, Period.MONTH))).value),
        "revenue weekly": plain((await r.revenue(project_id, RevenueSpec(FROM, ANCHOR, Period.WEEK))).value),
    }


async def shape(pool, project_id) -> dict:
    return {
        "events": await pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project_id),
        "people": await pool.fetchval(
            "SELECT count(*) FROM persons WHERE project_id = $1 AND merged_into IS NULL"
            " AND EXISTS (SELECT 1 FROM events e WHERE e.project_id = persons.project_id AND e.person_id = persons.id)",
            project_id),
        "identities": await pool.fetchval("SELECT count(*) FROM identities WHERE project_id = $1", project_id),
        "properties": sorted(orjson.dumps(r[0], option=orjson.OPT_SORT_KEYS) for r in await pool.fetch(
            "SELECT properties FROM persons WHERE project_id = $1 AND merged_into IS NULL AND properties <> '{}'",
            project_id)),
    }


async def test_export_then_import_gives_the_same_reports(services, tmp_path):
    source = await fresh_project(services, "export-src")
    await load_demo(services, source.id, 150, seed=11, anchor=ANCHOR)
    path = tmp_path / "export.jsonl"
    with path.open("wb") as out:
        stats = await export_project(services.pool, source.id, out)
    assert stats.events > 500 and stats.aliases > 10 and stats.property_sets > 100 and stats.skipped == 0

    target = await fresh_project(services, "export-dst")
    imported = await import_file(services, target.name, path)
    assert not imported.bad and imported.events == stats.events and imported.duplicates == 0
    assert await shape(services.pool, target.id) == await shape(services.pool, source.id)
    before, after = await reports(services, source.id), await reports(services, target.id)
    for name in before:
        assert after[name] == before[name], name
    assert before["funnel"]["steps"][0]["people"] > 50  # not trivially equal

    # Exporting the copy gives the same lines but for the project's own ids.
    again = io.BytesIO()
    await export_project(services.pool, target.id, again)
    assert sorted(again.getvalue().splitlines()) == sorted(path.read_bytes().splitlines())


async def test_export_range_and_exact_times(services):
    project = await fresh_project(services, "export-range")
    at = T(2024, 3, 1, 12, 0, 0).replace(microsecond=120)
    await services.ingest.record_events(project.id, [
        EventIn("a", "Early", {"Revenue": "1.10"}, T(2024, 1, 1)),
        EventIn("a", "Inside", {"x": [1, {"y": None}]}, at),
        EventIn("a", "Late", {}, T(2024, 5, 1)),
    ])
    out = io.BytesIO()
    stats = await export_project(services.pool, project.id, out, since=T(2024, 2, 1), until=T(2024, 4, 1))
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert stats.events == 1 and lines == [{"_n": "Inside", "_p": "a", "_t": 1709294400.00012, "x": [1, {"y": None}]}]
    assert unix_text(at) == b"1709294400.00012" and unix_text(T(2024, 1, 1)) == b"1704067200"


def _run(*args, env):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, timeout=120)


async def test_export_and_person_export_commands(services, database_url, tmp_path):
    project = await fresh_project(services, "export-cli")
    await services.ingest.record_events(project.id, [EventIn("anon", "Visited", {}, T(2024, 1, 1)),
                                                     EventIn("u@x", "Billed", {"Revenue": "5"}, T(2024, 1, 2))])
    await services.ingest.set_properties(project.id, "anon", {"Plan": "Free"}, T(2024, 1, 1))
    await services.ingest.identify(project.id, "anon", "u@x")
    env = {**os.environ, "DATABASE_URL": database_url}
    path = tmp_path / "all.jsonl"
    done = await asyncio.to_thread(_run, "export", "--project", project.name, "-o", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert b"exported 2 events, 1 aliases, 1 property sets" in done.stderr
    assert len(path.read_bytes().splitlines()) == 4
    person = await asyncio.to_thread(_run, "person", "export", "--project", project.name, "u@x", env=env)
    assert person.returncode == 0, person.stderr
    data = orjson.loads(person.stdout)
    assert sorted(i["identity"] for i in data["identities"]) == ["anon", "u@x"]
    assert data["properties"] == {"Plan": "Free"}
    assert [c["key"] for c in data["propertyHistory"]] == ["Plan"]
    assert [e["name"] for e in data["events"]] == ["Visited", "Billed"] and data["events"][1]["revenue"] == "5"
    missing = await asyncio.to_thread(_run, "person", "export", "--project", project.name, "nobody", env=env)
    assert missing.returncode != 0 and b"no person" in missing.stderr

"""Retention (issue 15): `whodid project set-retention NAME DAYS` (1 day to 100
years, none by default), and the background removal of older events in small
batches, with reports over ranges after the cut-off unchanged and ingestion
running meanwhile."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from app.config import Settings
from app.demo import load_demo
from app.ingest.validation import EventIn
from app.reports.service import ReportService
from app.storage.retention import RetentionKeeper

from tests.support.report_values import ANCHOR, plain
from tests.support.scenarios import T, fresh_project

from app.reports.cohort import CohortSpec
from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec
from app.reports.periods import Period
from app.reports.revenue import RevenueSpec

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, env):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


async def test_set_retention_command_bounds(services, database_url):
    project = await fresh_project(services, "retention-cli")
    env = {**os.environ, "DATABASE_URL": database_url}
    stored = lambda: services.pool.fetchval("SELECT retention_days FROM projects WHERE id = $1", project.id)  # noqa: E731
    assert await stored() is None  # none by default
    for bad in ("0", "-3", "36526", "abc", "1.5"):
        done = await asyncio.to_thread(_run, "project", "set-retention", project.name, "--", bad, env=env)
        assert done.returncode != 0 and "DAYS" in done.stderr, (bad, done.stderr)
    assert await stored() is None
    for good, value in (("1", 1), ("36525", 36525), ("90", 90), ("none", None)):
        done = await asyncio.to_thread(_run, "project", "set-retention", project.name, good, env=env)
        assert done.returncode == 0, done.stderr
        assert await stored() == value
    missing = await asyncio.to_thread(_run, "project", "set-retention", "no-such-project", "5", env=env)
    assert missing.returncode != 0 and "no project" in missing.stderr


async def _reports_after(services, project_id, start, end) -> dict:
    """Reports over [start, end), computed afresh (no cache)."""
    reports = ReportService(Settings(report_ttl=0), services.pool)
    steps = (FunnelStepSpec("Visited Site"), FunnelStepSpec("Signed Up"), FunnelStepSpec("Billed"))
    try:
        return {
            "funnel": plain((await reports.funnel(project_id, FunnelSpec(steps, start, end, 7 * 86400))).value),
            "funnel by plan": plain((await reports.funnel(project_id, FunnelSpec(
                steps, start, end, None, SegmentSpec(person_property="Plan")))).value),
            "cohort": plain((await reports.cohort(project_id, CohortSpec(
                "Signed Up", "Logged In", start, end, Period.WEEK, Period.WEEK, 4))).value),
            "revenue": plain((await reports.revenue(project_id, RevenueSpec(start, end, Period.WEEK))).value),
        }
    finally:
        await reports.close()


async def test_older_events_go_in_batches_and_later_reports_do_not_change(services):
    project = await fresh_project(services, "retention")
    await load_demo(services, project.id, 120, seed=5, anchor=ANCHOR)
    await services.pool.execute("UPDATE projects SET retention_days = 60 WHERE id = $1", project.id)
    cutoff = ANCHOR - timedelta(days=60)
    # A cut-off on a week boundary keeps every weekly bucket whole.
    start = cutoff + timedelta(days=(7 - cutoff.weekday()) % 7)
    before = await _reports_after(services, project.id, start, ANCHOR)
    old = await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND ts < $2", project.id, cutoff)
    kept = await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND ts >= $2", project.id, cutoff)
    assert old > 100 and kept > 100
    generation = await services.pool.fetchval("SELECT report_generation FROM projects WHERE id = $1", project.id)

    keeper = RetentionKeeper(services.pool, batch=50, pause=0, clock=lambda: ANCHOR)
    # Ingestion goes on during the pass.
    sending = asyncio.gather(*(services.ingest.record_events(
        project.id, [EventIn(f"live-{n}-{i}", "During", {}, ANCHOR - timedelta(hours=1)) for i in range(20)])
        for n in range(20)))
    result, _ = await asyncio.gather(keeper.run_once(), sending)
    assert result.ran and result.deleted == {project.id: old}
    assert result.batches >= old // 50
    assert await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND ts < $2", project.id, cutoff) == 0
    assert await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND ts >= $2 AND name <> 'During'",
        project.id, cutoff) == kept
    assert await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND name = 'During'", project.id) == 400
    assert await services.pool.fetchval(
        "SELECT report_generation FROM projects WHERE id = $1", project.id) == generation + 1
    await services.pool.execute("DELETE FROM events WHERE project_id = $1 AND name = 'During'", project.id)
    assert await _reports_after(services, project.id, start, ANCHOR) == before
    # Nothing more to do: the next pass deletes nothing and bumps nothing.
    again = await keeper.run_once()
    assert again.deleted == {}


async def test_one_process_at_a_time_and_projects_without_retention_untouched(services):
    keep_all = await fresh_project(services, "retention-none")
    await services.ingest.record_events(keep_all.id, [EventIn("a", "Old", {}, T(2020, 1, 1))])
    keepers = [RetentionKeeper(services.pool, batch=10, pause=0.05, clock=lambda: ANCHOR) for _ in range(2)]
    results = await asyncio.gather(*(k.run_once() for k in keepers))
    assert sum(r.ran for r in results) >= 1
    assert keep_all.id not in {p for r in results for p in r.deleted}
    assert await services.pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", keep_all.id) == 1

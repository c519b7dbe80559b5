"""`whodid demo`: deterministic, realistic, loaded through the ingest path, safe to
run twice."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from app.demo import DAYS, load_demo, simulate_person
from app.reports.cohort import CohortSpec
from app.reports.periods import Period
from app.reports.revenue import RevenueSpec

try:
    from tests.support.scenarios import T, fresh_project
except ModuleNotFoundError:  # pragma: no cover
    from test_revenue_cohort_support import T, fresh_project  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = T(2024, 7, 1)


def test_simulation_is_deterministic():
    a = [simulate_person(i, 42, ANCHOR) for i in range(200)]
    b = [simulate_person(i, 42, ANCHOR) for i in range(200)]
    c = [simulate_person(i, 43, ANCHOR) for i in range(200)]
    assert a == b and a != c
    times = [e.timestamp for p in a for e in p.anonymous + p.identified]
    assert min(times) >= ANCHOR - timedelta(days=DAYS) and max(times) < ANCHOR


async def test_load_demo_is_realistic_and_idempotent(services):
    project = await fresh_project(services, "demo")
    stats = await load_demo(services, project.id, 1500, seed=7, anchor=ANCHOR)
    assert stats.people == 1500 and stats.signups > 100 and stats.paying > 30 and stats.duplicates == 0
    pool = services.pool
    assert await pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id) == stats.events
    names = Counter({r["name"]: r["n"] for r in await pool.fetch(
        "SELECT name, count(*) AS n FROM events WHERE project_id = $1 GROUP BY name", project.id)})
    assert {"Visited Site", "Ad Campaign Hit", "Viewed Pricing Page", "Signed Up", "Billed", "Refunded",
            "Cancelled Subscription", "Logged In"} <= set(names)
    sources = {r[0] for r in await pool.fetch(
        "SELECT DISTINCT properties->>'Campaign Source' FROM events WHERE project_id = $1 AND name = 'Ad Campaign Hit'",
        project.id)}
    assert sources == {"google", "facebook", "newsletter", "twitter"}
    # Identified people carry their anonymous history; properties are set on them.
    merged = await pool.fetchval(
        "SELECT count(*) FROM persons p WHERE p.project_id = $1 AND p.identified AND p.merged_into IS NULL"
        " AND p.properties ? 'Plan' AND EXISTS (SELECT 1 FROM events e WHERE e.project_id = p.project_id"
        " AND e.person_id = p.id AND e.name = 'Visited Site')", project.id)
    assert merged == stats.signups
    # The experiment: two variants, as event and person property, converting differently.
    rates = {r["variant"]: r["signed"] / r["viewers"] for r in await pool.fetch(
        """SELECT p.properties->>'Pricing Page Experiment' AS variant, count(*) AS viewers,
                  count(*) FILTER (WHERE p.identified) AS signed
           FROM persons p WHERE p.project_id = $1 AND p.merged_into IS NULL
             AND p.properties ? 'Pricing Page Experiment' GROUP BY 1""", project.id)}
    assert set(rates) == {"Control", "Annual Discount"} and rates["Annual Discount"] > rates["Control"]

    revenue = (await services.reports.revenue(project.id, RevenueSpec(ANCHOR - timedelta(days=DAYS), ANCHOR))).value
    assert revenue.money.refunds < 0 < revenue.money.gross and len(revenue.series) == 6  # Jan-Jun 2024
    assert {s.value for s in revenue.by_source} == {"google", "facebook", "newsletter", "twitter", None}
    cohort = (await services.reports.cohort(project.id, CohortSpec(
        "Signed Up", "Logged In", ANCHOR - timedelta(days=DAYS), ANCHOR, Period.MONTH, Period.WEEK, 8))).value
    assert len(cohort.rows) >= 5 and all(r.cells[0].people > 0 for r in cohort.rows)

    again = await load_demo(services, project.id, 1500, seed=7, anchor=ANCHOR)
    assert again.events == 0 and again.duplicates == stats.events


def test_demo_command(database_url):
    name = f"demo-cli-{secrets.token_hex(4)}"
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "app", "demo", "--people", "40", "--project", name]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert re.search(r"write key .*:\s+wk_\S+", first.stdout) and re.search(r"read key .*:\s+rk_\S+", first.stdout)
    assert re.search(r"^40 people, \d+ events \(0 already there\)", first.stdout, re.M), first.stdout
    assert "demo" in first.stderr  # the tqdm progress bar
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "existing project" in second.stdout and "rk_" not in second.stdout
    assert re.search(r"^40 people, 0 events \(\d+ already there\)", second.stdout, re.M), second.stdout

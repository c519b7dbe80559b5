"""`whodid demo` gives lifecycle and paths something to show (issue 12):
resurrecting users week after week, and paths that go on past the anchor."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from app.demo import load_demo
from app.reports.lifecycle import LIFECYCLE, LifecycleSpec
from app.reports.paths import PATHS, PathsSpec
from app.reports.periods import Period

ANCHOR = datetime(2024, 7, 1, tzinfo=timezone.utc)  # a Monday


async def test_demo_data_has_resurrecting_users_and_readable_paths(services):
    project = await services.auth.create_project(f"demo-lp-{secrets.token_hex(6)}")
    await load_demo(services, project.id, 800, seed=7, anchor=ANCHOR)
    weeks = LifecycleSpec("Logged In", ANCHOR - timedelta(weeks=8), ANCHOR, interval=Period.WEEK)
    points = (await services.reports.report(LIFECYCLE, project.id, weeks)).value.points
    assert len(points) == 8
    assert all(p.resurrecting > 0 and p.returning > 0 and p.dormant > 0 for p in points), points
    start = PathsSpec(ANCHOR - timedelta(days=90), ANCHOR, start_event="Viewed Pricing Page", depth=3, limit=3)
    paths = (await services.reports.report(PATHS, project.id, start)).value
    assert {n.step for n in paths.nodes} == {0, 1, 2, 3}
    assert any((x.source, x.target) == ("Viewed Pricing Page", "Signed Up") for x in paths.links)
    end = PathsSpec(ANCHOR - timedelta(days=90), ANCHOR, end_event="Signed Up", depth=3)
    paths = (await services.reports.report(PATHS, project.id, end)).value
    assert {n.step for n in paths.nodes} == {-3, -2, -1, 0}
    assert any((x.from_step, x.source, x.target) == (-1, "Viewed Pricing Page", "Signed Up") for x in paths.links)

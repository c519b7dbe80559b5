"""Dashboard fixtures: a project with `whodid demo` data (200 people), a
headless Chromium, tabs on the server; the helpers are in
tests/support/dashboard.py."""
from __future__ import annotations

import os

import pytest

from app.demo import load_demo
from tests.support.dashboard import ARGS, CHROMIUM, DEMO_PEOPLE, new_tab
from tests.support.server import make_project


@pytest.fixture(scope="module")
async def demo(services):
    """A project holding the demo data set (200 people, the same story as `whodid demo`)."""
    keys = await make_project(services, "dashboard-demo")
    stats = await load_demo(services, keys.id, DEMO_PEOPLE, seed=7)
    assert stats.people == DEMO_PEOPLE and stats.paying > 0
    return keys


@pytest.fixture(scope="module")
async def browser():
    if not CHROMIUM.exists():
        if os.environ.get("WHODID_REQUIRE_BROWSER"):
            pytest.fail(f"WHODID_REQUIRE_BROWSER is set but there is no chromium at {CHROMIUM}")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (set WHODID_REQUIRE_BROWSER=1 to fail instead)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def tab(browser, server):
    t = await new_tab(browser, server)
    yield t
    await t.page.context.close()
    assert t.outside == [], f"the dashboard asked another host: {t.outside}"


@pytest.fixture
async def phone(browser, server):
    t = await new_tab(browser, server, width=390, height=844)
    yield t
    await t.page.context.close()
    assert t.outside == [], f"the dashboard asked another host: {t.outside}"

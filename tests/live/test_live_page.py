"""The Live page in headless Chromium: enter the read key, and events sent
after it opened appear; the name filter and the pause button work; a write
key is refused and the page asks again."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.server import make_project
from tests.support.live import RECORD_EVENTS, eventually, gql, record

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("WHODID_REQUIRE_BROWSER"),
        reason="needs Debian's chromium at /usr/bin/chromium (set WHODID_REQUIRE_BROWSER=1 to fail instead)",
    ),
]


@pytest.fixture
async def page():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = await browser.new_context()
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.js_errors = errors
            yield page
        finally:
            await browser.close()


async def _rows(page) -> list[str]:
    return await page.eval_on_selector_all("#events tr.event", "rows => rows.map(r => r.dataset.name)")


async def _connect(page, url: str, key: str) -> None:
    await page.goto(f"{url}/live")
    await page.fill("#key", key)
    await page.click("#connect")


async def test_events_sent_after_opening_appear(page, live_server):
    keys = await make_project(live_server.services, "page")
    await record(live_server.url, keys.write_key, "before", "Sent Before Opening")
    await _connect(page, live_server.url, keys.read_key)
    await page.wait_for_selector("#status.live")
    await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)

    await record(live_server.url, keys.write_key, "ada@example.com", "Signed Up", {"Plan": "pro <b>x</b>"})
    await page.wait_for_selector("#events tr.event[data-name='Signed Up']")
    row = await page.inner_text("#events tr.event[data-name='Signed Up']")
    assert "ada@example.com" in row and "Plan" in row and "pro <b>x</b>" in row  # shown as text, not HTML
    assert await _rows(page) == ["Signed Up"]  # nothing from before it opened
    assert await page.evaluate("sessionStorage.getItem('whodid.readKey')") == keys.read_key

    # Filter by event name (server side), then pause and resume.
    await page.fill("#names", "Paid")
    await page.click("#apply")
    await eventually(lambda: live_server.bus.subscribers(keys.id)
                     and live_server.bus.subscribers(keys.id)[0].names == frozenset({"Paid"}))
    await gql(live_server.url, keys.write_key, RECORD_EVENTS, {"input": [
        {"identity": "ada@example.com", "name": "Viewed Page"},
        {"identity": "ada@example.com", "name": "Paid", "properties": {"Revenue": 49}},
    ]})
    await page.wait_for_selector("#events tr.event[data-name='Paid']")
    assert await _rows(page) == ["Paid", "Signed Up"]

    await page.click("#pause")
    await record(live_server.url, keys.write_key, "bob", "Paid")
    # Selector waits, not wait_for_function: that polls with eval, which the page's CSP forbids.
    await page.locator("#count", has_text="1 waiting").wait_for()
    assert await _rows(page) == ["Paid", "Signed Up"]
    await page.click("#pause")  # resume
    await page.locator("#events tr.event").nth(2).wait_for()
    assert await page.locator("#events tr.event").count() == 3
    assert page.js_errors == []

    # Reloading keeps the key for the session and reconnects by itself.
    await page.reload()
    await page.wait_for_selector("#status.live")


async def test_a_write_key_is_refused_and_asked_again(page, live_server):
    keys = await make_project(live_server.services, "page-refused")
    await _connect(page, live_server.url, keys.write_key)
    await page.wait_for_selector("#status.bad")
    assert await page.inner_text("#status") == "key refused"
    assert await page.is_visible("#key")
    assert await page.evaluate("sessionStorage.getItem('whodid.readKey')") is None

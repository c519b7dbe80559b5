"""Offline by construction (DESIGN.md §7): every page whodid serves works in a
browser that can reach nothing but whodid. Headless Chromium loads each page
with every request checked: one that leaves the server's origin fails the
test (and is aborted, so a page that would hang "Loading..." without the
internet hangs here too). Each page must also actually work: GraphiQL renders
its editor and runs a query, the Live page connects.

A new page is one more entry in PAGES: its path and what proves it rendered."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("WHODID_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("WHODID_REQUIRE_BROWSER"),
        reason=f"needs Debian's chromium at {CHROMIUM} (set WHODID_REQUIRE_BROWSER=1 to fail instead)",
    ),
]


@dataclass(frozen=True)
class Page:
    path: str
    rendered: str  # a selector present once the page has rendered (its own scripts ran)


PAGES = [
    Page("/graphql", ".graphiql-query-editor .CodeMirror"),
    Page("/live", "#key-form #connect"),
    Page("/dashboard", "#signin-form #signin-button"),
]


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True, timeout=30_000)
        try:
            yield instance
        finally:
            await instance.close()


async def open_offline(browser, server: str, path: str, headers: dict | None = None):
    """A page at `path` whose every request is checked: those to another origin
    are recorded and aborted. Returns (page, context, left, problems)."""
    origin = urlsplit(server)
    context = await browser.new_context(extra_http_headers=headers or {})
    context.set_default_timeout(20_000)
    page = await context.new_page()
    left: list[str] = []
    problems: list[str] = []

    def same_origin(url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.hostname == origin.hostname and (parts.port or 80) == (origin.port or 80)

    async def check(route):
        if same_origin(route.request.url):
            await route.continue_()
        else:
            left.append(route.request.url)
            await route.abort()

    await context.route("**/*", check)
    page.on("websocket", lambda ws: None if same_origin(ws.url.replace("ws", "http", 1)) else left.append(ws.url))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))
    await page.goto(server + path, wait_until="load")
    return page, context, left, problems


@pytest.mark.parametrize("page_spec", PAGES, ids=[p.path for p in PAGES])
async def test_page_loads_nothing_from_another_host(browser, server, page_spec):
    page, context, left, problems = await open_offline(browser, server, page_spec.path)
    rendered = None
    try:
        await page.wait_for_selector(page_spec.rendered, state="attached", timeout=15_000)
        await page.wait_for_load_state("networkidle")
    except Exception as exc:  # said after what leaves the server, the likelier cause
        rendered = exc
    finally:
        await context.close()
    assert left == [], f"{page_spec.path} asked another host for {left}"
    assert rendered is None, f"{page_spec.path} did not render without the internet: {rendered}"
    assert [p for p in problems if "page error" in p] == []


async def test_graphiql_renders_and_runs_a_query_offline(browser, server, project, read_client):
    await read_client('mutation { recordEvent(input: {identity: "ada", name: "Opened GraphiQL"}) { duplicate } }')
    page, context, left, problems = await open_offline(
        browser, server, "/graphql", headers={"Authorization": f"Bearer {project.read_key}"})
    try:
        await page.wait_for_selector(".graphiql-query-editor .CodeMirror")
        assert "Loading..." not in await page.inner_text("#graphiql")
        await page.click(".graphiql-execute-button")
        response = page.locator(".graphiql-response .CodeMirror")
        await response.get_by_text("Opened GraphiQL").first.wait_for()
    finally:
        await context.close()
    assert left == []
    assert problems == []


async def test_live_page_connects_offline(browser, server, project):
    page, context, left, problems = await open_offline(browser, server, "/live")
    try:
        await page.fill("#key", project.read_key)
        await page.click("#connect")
        await page.wait_for_selector("#status.live")
    finally:
        await context.close()
    assert left == []
    assert problems == []


async def test_vendored_files_are_immutable_and_versioned(http):
    page = (await http.get("/graphql", headers={"Accept": "text/html"})).text
    assets = [part.split('"')[0] for part in page.split('="')[1:] if part.startswith("/static/vendor/")]
    assert len(assets) == 6, assets  # react, react-dom, GraphiQL js + css, the explorer js + css
    for asset in assets:
        assert "@" in asset.split("/")[3], f"{asset}: the path names a version"
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-encoding"] == "gzip"  # httpx asks for it
        again = await http.get(asset, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
    assert (await http.get("/static/vendor/../../server.py")).status_code == 404
    assert (await http.get("/static/vendor/graphiql@3.8.3/LICENSE")).status_code == 404  # only .js and .css
    assert "Content-Security-Policy" in (await http.get("/graphql", headers={"Accept": "text/html"})).headers


async def test_no_page_names_another_host():
    """A cheap guard beside the browser test: no served page source mentions
    an http(s) URL in a src or href."""
    root = Path(__file__).resolve().parent.parent / "app"
    for html in root.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        for attribute in ("src=\"http", "href=\"http", "src='http", "href='http"):
            assert attribute not in text, f"{html}: {attribute}"


def test_vendored_md_records_every_served_file_and_its_licence():
    """VENDORED.md's sha256 list is the folder's .js and .css files, byte for
    byte, and every package folder carries its LICENSE."""
    import hashlib
    import re

    vendor = Path(__file__).resolve().parent.parent / "app" / "static" / "vendor"
    record = dict((path, digest) for digest, path in
                  re.findall(r"^([0-9a-f]{64})  (\S+)$", (vendor / "VENDORED.md").read_text(), re.M))
    files = {str(p.relative_to(vendor)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in vendor.rglob("*") if p.suffix in (".js", ".css")}
    assert record == files
    for package in (p for p in vendor.iterdir() if p.is_dir()):
        assert "@" in package.name and (package / "LICENSE").read_text().startswith("MIT License"), package

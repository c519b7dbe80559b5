"""Dashboard test helpers: headless Chromium that refuses and records every
request leaving the server, and a small GraphQL client to read the answers
the pages must show. The fixtures are in tests/dashboard/conftest.py."""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

CHROMIUM = Path(os.environ.get("WHODID_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
DEMO_PEOPLE = 200


async def api(url: str, key: str, query: str, variables: dict | None = None) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                                     headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


class Tab:
    """One browser context and page on the whodid server, with what it did:
    JavaScript errors, and every request to anywhere but the server (refused)."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.responses: list = []  # every /graphql answer, for its extensions.cost

    async def sign_in(self, key: str, fragment: str = "") -> None:
        await self.page.goto(f"{self.base}/dashboard{fragment}")
        await self.page.fill("#key", key)
        await self.page.click("#signin-button")

    async def open(self, fragment: str, ready: str) -> None:
        await self.page.evaluate("f => { location.hash = f; }", fragment)
        await self.page.wait_for_selector(ready, timeout=30000)

    async def costs(self) -> list[tuple[str, int, int]]:
        """(operation, requestedQueryCost, maxCost) of every GraphQL answer so far."""
        out = []
        for response in self.responses:
            try:
                body = await response.json()
                sent = graphql_request(response.request)
            except Exception:  # a faked or aborted answer
                continue
            cost = (body.get("extensions") or {}).get("cost")
            if cost:
                out.append((sent["operation"], cost["requestedQueryCost"], cost["maxCost"]))
        return out

    async def variables(self, selector: str) -> dict:
        return json.loads(await self.page.get_attribute(selector, "data-variables"))


def is_graphql(request) -> bool:
    return urlsplit(request.url).path == "/graphql"


def graphql_request(request) -> dict:
    """What the dashboard sent to /graphql, POST (JSON body) or GET (query
    string, a persisted query's hash only): method, query (None when only the
    hash was sent), operationName, operation ("query Name", as in the text),
    variables, extensions."""
    if request.method == "GET":
        params = dict(parse_qsl(urlsplit(request.url).query))
        sent = {k: params.get(k) for k in ("query", "operationName")}
        sent["variables"] = json.loads(params.get("variables") or "{}")
        sent["extensions"] = json.loads(params.get("extensions") or "null")
    else:
        body = json.loads(request.post_data or "{}")
        sent = {k: body.get(k) for k in ("query", "operationName", "variables", "extensions")}
    sent["method"] = request.method
    name = sent["operationName"]
    if sent["query"]:
        sent["operation"] = sent["query"].split("(")[0].split("{")[0].strip()
    else:
        sent["operation"] = f"query {name}" if name else ""
    sent["hash"] = ((sent["extensions"] or {}).get("persistedQuery") or {}).get("sha256Hash")
    return sent


async def new_tab(browser, base: str, width: int = 1280, height: int = 900) -> Tab:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    tab = Tab(page, base)
    origin = base.rstrip("/")
    ws_origin = origin.replace("http://", "ws://")

    async def guard(route):
        url = route.request.url
        if url.startswith(origin + "/") or url == origin or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            tab.outside.append(url)
            await route.abort()

    await context.route("**/*", guard)
    page.on("websocket", lambda ws: None if ws.url.startswith(ws_origin + "/") else tab.outside.append(ws.url))
    page.on("response", lambda r: tab.responses.append(r) if is_graphql(r.request) else None)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
    return tab

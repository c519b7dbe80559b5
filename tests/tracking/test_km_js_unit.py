"""Browser tests for the km.js tracker (app/tracking/static/km.js).

A tiny recorder HTTP server on 127.0.0.1 serves test pages and km.js and
records every /e, /s and /a request (query string and form body). The pages are
driven by Debian's headless chromium through Playwright; nothing leaves the
loopback interface.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

KM_JS = Path(__file__).resolve().parents[2] / "app" / "tracking" / "static" / "km.js"
CHROMIUM = os.environ.get("WHODID_CHROMIUM", "/usr/bin/chromium")
# Skipped only when the browser is missing AND not required; when
# WHODID_REQUIRE_BROWSER is set, a missing browser fails the run.
if not os.path.exists(CHROMIUM):
    if os.environ.get("WHODID_REQUIRE_BROWSER"):
        pytest.fail(f"WHODID_REQUIRE_BROWSER is set but there is no chromium at {CHROMIUM}", pytrace=False)
    pytest.skip(f"no chromium at {CHROMIUM} (set WHODID_REQUIRE_BROWSER=1 to fail instead)", allow_module_level=True)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
WAIT = 8.0  # seconds, upper bound for any wait in these tests


class Recorder:
    """Serves pages + km.js and records the tracking hits it receives."""

    def __init__(self) -> None:
        self.hits: list[dict] = []
        self.pages: dict[str, str] = {}
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output quiet
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                if path in ("/e", "/s", "/a"):
                    params = dict(parse_qsl(parts.query, keep_blank_values=True))
                    body = b""
                    if method == "POST":
                        length = int(self.headers.get("Content-Length") or 0)
                        body = self.rfile.read(length) if length else b""
                        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                    with recorder.lock:
                        recorder.hits.append(
                            {
                                "path": path,
                                "method": method,
                                "params": params,
                                "content_type": self.headers.get("Content-Type", ""),
                            }
                        )
                    self._send(200, GIF, "image/gif")
                elif path == "/km.js":
                    self._send(200, KM_JS.read_bytes(), "application/javascript")
                elif path in recorder.pages:
                    self._send(200, recorder.pages[path].encode(), "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_OPTIONS(self):
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- helpers
    def page(self, path: str, body: str = "", head: str = "", km_src: str = "/km.js") -> str:
        """Register a test page that queues `head` commands and loads km.js."""
        self.pages[path] = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>t</title>
<script>
  var _kmq = _kmq || [];
  var _kmk = _kmk || 'wk_test';
  {head}
  (function () {{
    var s = document.createElement('script');
    s.type = 'text/javascript'; s.async = true; s.src = '{km_src}';
    var f = document.getElementsByTagName('script')[0];
    f.parentNode.insertBefore(s, f);
  }})();
</script></head>
<body>{body}</body></html>"""
        return self.base + path

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.hits)

    def events(self, name: str | None = None) -> list[dict]:
        return [
            h["params"]
            for h in self.snapshot()
            if h["path"] == "/e" and (name is None or h["params"].get("_n") == name)
        ]

    def of(self, path: str) -> list[dict]:
        return [h["params"] for h in self.snapshot() if h["path"] == path]

    def wait_event(self, name: str, count: int = 1) -> list[dict]:
        return self.wait(lambda: len(self.events(name)) >= count, f"{count}x event {name!r}") or self.events(name)

    def wait(self, predicate, what: str):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if predicate():
                return None
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; got {self.snapshot()!r}")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def rec():
    r = Recorder()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    ctx.set_default_navigation_timeout(10_000)
    pg = ctx.new_page()
    try:
        yield pg
    finally:
        ctx.close()


def km_loaded(page) -> None:
    page.wait_for_function("() => window.KM && window._kmq && window._kmq.__whodid === true", timeout=10_000)


def common_params(p: dict) -> None:
    assert p["_k"] == "wk_test"
    assert p["_d"] == "1"
    assert abs(int(p["_t"]) - time.time()) < 120
    assert p["_p"]


# --------------------------------------------------------------------- tests


def test_queued_commands_are_replayed_and_push_runs_immediately(rec, page):
    url = rec.page(
        "/q.html",
        head="""_kmq.push(['record', 'Queued One', {plan: 'pro', seats: 3}]);
  _kmq.push(['set', {Plan: 'pro'}]);""",
    )
    page.goto(url)
    km_loaded(page)
    (queued,) = rec.wait_event("Queued One")
    common_params(queued)
    assert queued["plan"] == "pro" and queued["seats"] == "3"
    rec.wait(lambda: any(s.get("Plan") == "pro" for s in rec.of("/s")), "set Plan")

    # After load, push executes immediately and the callback runs.
    page.evaluate("() => { window.cbDone = false; _kmq.push(['record', 'After Load', {x: 1}, function () { window.cbDone = true; }]); }")
    (after,) = rec.wait_event("After Load")
    assert after["_p"] == queued["_p"] == page.evaluate("KM.i()")
    page.wait_for_function("() => window.cbDone === true", timeout=5_000)

    # Sent as a POST beacon with a form-encoded body.
    posts = [h for h in rec.snapshot() if h["params"].get("_n") == "After Load"]
    assert posts[0]["method"] == "POST"
    assert posts[0]["content_type"].startswith("application/x-www-form-urlencoded")

    # Cookies: anonymous id in km_ai, a visit cookie km_vs.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["km_ai"]["value"] == queued["_p"]
    assert cookies["km_ai"]["path"] == "/" and cookies["km_ai"]["sameSite"] == "Lax"
    # 2 years asked; Chromium caps cookie lifetimes at 400 days (refreshed on every load).
    assert cookies["km_ai"]["expires"] > time.time() + 399 * 86400
    assert time.time() + 25 * 60 < cookies["km_vs"]["expires"] <= time.time() + 31 * 60


def test_visited_site_once_per_session(rec, page):
    url = rec.page("/v.html", head="_kmq.push(['record', 'Marker']);")
    page.goto(url)
    (visit,) = rec.wait_event("Visited Site")
    common_params(visit)
    assert visit["URL"] == url
    rec.wait_event("Marker", 1)

    page.goto(url + "?again=1")
    rec.wait_event("Marker", 2)
    time.sleep(0.3)
    assert len(rec.events("Visited Site")) == 1

    # Session expired (cookie gone): the next page load is a new visit.
    page.context.clear_cookies(name="km_vs")
    page.goto(url + "?third=1", referer="https://news.example.org/article")
    rec.wait_event("Marker", 3)
    visits = rec.wait_event("Visited Site", 2)
    assert visits[1]["URL"] == url + "?third=1"
    assert visits[1]["Referrer"] == "https://news.example.org/article"
    assert "Referrer" not in visits[0]  # direct visit: no Referrer property
    assert visits[1]["_p"] == visits[0]["_p"]  # same anonymous visitor


def test_utm_landing_records_ad_campaign_hit_and_sets_person(rec, page):
    rec.page("/landing.html")
    page.goto(rec.base + "/landing.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_content=hero")
    (hit,) = rec.wait_event("Ad Campaign Hit")
    common_params(hit)
    assert hit["Campaign Source"] == "newsletter"
    assert hit["Campaign Medium"] == "email"
    assert hit["Campaign Name"] == "spring sale"
    assert hit["Campaign Content"] == "hero"
    assert "Campaign Terms" not in hit  # only those present
    rec.wait(lambda: any("Campaign Source" in s for s in rec.of("/s")), "campaign set")
    (s,) = [s for s in rec.of("/s") if "Campaign Source" in s]
    assert s["Campaign Source"] == "newsletter" and s["Campaign Name"] == "spring sale"
    assert s["_p"] == hit["_p"]
    assert not rec.events("Search Engine Hit")


def test_google_referrer_records_search_engine_hit(rec, page):
    url = rec.page("/s.html")
    page.goto(url, referer="https://www.google.com/search?q=person+analytics")
    (hit,) = rec.wait_event("Search Engine Hit")
    common_params(hit)
    assert hit["Search Engine"] == "google"
    assert hit["Search Terms"] == "person analytics"
    # Real Google referrers are usually trimmed to the origin: terms are then empty.
    page.context.clear_cookies()
    page.goto(url + "?2", referer="https://www.google.co.uk/")
    hits = rec.wait_event("Search Engine Hit", 2)
    assert hits[1]["Search Engine"] == "google" and hits[1]["Search Terms"] == ""


def test_search_engine_terms_parsing(rec, page):
    rec.page("/blank.html")
    page.goto(rec.base + "/blank.html")
    km_loaded(page)
    # One page load per referrer: the tracker parses document.referrer.
    cases = [
        ("https://www.bing.com/search?q=who+did", "bing", "who did"),
        ("https://duckduckgo.com/?q=x%26y", "duckduckgo", "x&y"),
        ("https://yandex.ru/search/?lr=1&text=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82", "yandex", "привет"),
        ("https://www.baidu.com/s?ie=utf-8&wd=z", "baidu", "z"),
        ("https://search.yahoo.com/search?p=w", "yahoo", "w"),
        ("https://www.ecosia.org/search?q=e", "ecosia", "e"),
    ]
    for i, (ref, engine, terms) in enumerate(cases):
        page.goto(rec.base + f"/blank.html?n={i}", referer=ref)
        hits = rec.wait_event("Search Engine Hit", i + 1)
        assert (hits[i]["Search Engine"], hits[i]["Search Terms"]) == (engine, terms)
    # Not a search engine, and Google Mail is not search.
    page.goto(rec.base + "/blank.html?n=x", referer="https://mail.google.com/mail/u/0/")
    km_loaded(page)
    page.goto(rec.base + "/blank.html?n=y", referer="https://example.com/?q=nope")
    km_loaded(page)
    time.sleep(0.3)
    assert len(rec.events("Search Engine Hit")) == len(cases)


def test_identify_aliases_anonymous_id_and_later_events_use_user_id(rec, page):
    url = rec.page("/i.html", head="_kmq.push(['record', 'Before Login']);")
    page.goto(url)
    km_loaded(page)
    (before,) = rec.wait_event("Before Login")
    anon = before["_p"]

    page.evaluate("() => _kmq.push(['identify', 'bob@example.com'])")
    rec.wait(lambda: rec.of("/a"), "alias request")
    (a,) = rec.of("/a")
    common_params(a)
    assert a["_p"] == anon and a["_n"] == "bob@example.com"
    assert page.evaluate("KM.i()") == "bob@example.com"

    page.evaluate("() => _kmq.push(['record', 'After Login'])")
    (after,) = rec.wait_event("After Login")
    assert after["_p"] == "bob@example.com"

    # Persisted across page loads; identify again with the same user sends nothing.
    page.goto(url + "?2", wait_until="load")
    km_loaded(page)
    page.evaluate("() => _kmq.push(['identify', 'bob@example.com'], ['record', 'Reloaded'])")
    (reloaded,) = rec.wait_event("Reloaded")
    assert reloaded["_p"] == "bob@example.com"
    assert len(rec.of("/a")) == 1
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["km_ni"] == "bob%40example.com"

    # Bogus identities are ignored.
    page.evaluate("() => { KM.identify('undefined'); KM.identify(''); KM.identify(null); }")
    time.sleep(0.2)
    assert len(rec.of("/a")) == 1

    # alias sends /a with both sides.
    page.evaluate("() => _kmq.push(['alias', 'bob@example.com', 'crm-42'])")
    rec.wait(lambda: len(rec.of("/a")) == 2, "second alias")
    assert rec.of("/a")[1]["_p"] == "bob@example.com" and rec.of("/a")[1]["_n"] == "crm-42"


def test_identify_as_another_user_starts_fresh_anonymous_id(rec, page):
    rec.page("/sw.html")
    page.goto(rec.base + "/sw.html")
    km_loaded(page)
    anon1 = page.evaluate("KM.i()")
    page.evaluate("() => KM.identify('alice')")
    page.evaluate("() => KM.identify('carol')")
    rec.wait(lambda: len(rec.of("/a")) == 2, "two aliases")
    a1, a2 = rec.of("/a")
    assert (a1["_p"], a1["_n"]) == (anon1, "alice")
    assert a2["_n"] == "carol" and a2["_p"] not in (anon1, "alice")


def test_track_submit_skips_secrets(rec, page):
    url = rec.page(
        "/form.html",
        head="_kmq.push(['trackSubmit', 'signup', 'Signed Up', {Plan: 'pro'}]);",
        body="""
<form id="signup" action="javascript:void(0)">
  <input name="name" value="Ada Lovelace">
  <input name="email" type="email" value="ada@example.com">
  <input name="password" type="password" value="hunter2">
  <input name="card_number" value="4111 1111 1111 1111">
  <input name="cvc" value="123">
  <input name="ccExpMonth" value="12">
  <input name="exp-year" value="2030">
  <input name="ssn" value="078-05-1120">
  <input name="promo" autocomplete="cc-number" value="5555555555554444">
  <input name="notes" value="4242424242424242">
  <input type="hidden" name="csrf_token" value="abc">
  <input type="hidden" name="authenticity_token" value="def">
  <input type="checkbox" name="newsletter" value="yes">
  <input class="km_ignore" name="private" value="p">
  <button id="go" type="submit">Sign up</button>
</form>""",
    )
    page.goto(url)
    km_loaded(page)
    page.click("#go")
    (ev,) = rec.wait_event("Signed Up")
    common_params(ev)
    props = {k: v for k, v in ev.items() if not k.startswith("_")}
    assert props == {"name": "Ada Lovelace", "email": "ada@example.com", "Plan": "pro"}


def test_track_click_and_outbound_link(rec, page):
    rec.page("/away.html", body="<p>away</p>")
    url = rec.page(
        "/links.html",
        head="""_kmq.push(['trackClick', 'buy', 'Clicked Buy', {Where: 'header'}]);
  _kmq.push(['trackClick', '.nav a.docs', 'Clicked Docs']);
  _kmq.push(['trackClickOnOutboundLink', 'out', 'Left Site', {To: 'away'}]);""",
        body="""<button id="buy"><span id="inner">Buy</span></button>
<nav class="nav"><a class="docs" href="javascript:void(0)">Docs</a></nav>
<a id="out" href="/away.html">Away</a>""",
    )
    page.goto(url)
    km_loaded(page)
    page.click("#inner")
    (buy,) = rec.wait_event("Clicked Buy")
    assert buy["Where"] == "header"
    page.click("a.docs")
    rec.wait_event("Clicked Docs")
    page.click("#out")
    (left,) = rec.wait_event("Left Site")
    assert left["To"] == "away"
    page.wait_for_url("**/away.html", timeout=5_000)


def test_clear_identity_gives_new_anonymous_id(rec, page):
    rec.page("/c.html")
    page.goto(rec.base + "/c.html")
    km_loaded(page)
    anon1 = page.evaluate("KM.i()")
    page.evaluate("() => { KM.identify('dave'); _kmq.push(['record', 'As Dave']); }")
    assert rec.wait_event("As Dave")[0]["_p"] == "dave"
    page.evaluate("() => { _kmq.push(['clearIdentity'], ['record', 'Logged Out']); }")
    (out,) = rec.wait_event("Logged Out")
    assert out["_p"] not in (anon1, "dave")
    assert page.evaluate("KM.i()") == out["_p"]
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "km_ni" not in cookies or cookies["km_ni"] == ""
    assert cookies["km_ai"] == out["_p"]


def test_image_fallback_and_script_origin(rec, browser):
    """Without sendBeacon the tracker uses GET image pings, to the origin that served km.js."""
    other = Recorder()  # serves the page; `rec` serves km.js and receives the hits
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    try:
        ctx.add_init_script("Object.defineProperty(Navigator.prototype, 'sendBeacon', {value: undefined, configurable: true});")
        pg = ctx.new_page()
        url = other.page("/x.html", head="_kmq.push(['record', 'Cross Origin', {a: 'b c'}]);", km_src=rec.base + "/km.js")
        pg.goto(url)
        (ev,) = rec.wait_event("Cross Origin")
        assert ev["a"] == "b c"
        hit = [h for h in rec.snapshot() if h["params"].get("_n") == "Cross Origin"][0]
        assert hit["method"] == "GET"
        assert not other.of("/e")
        # _kmh overrides the endpoint base.
        pg.evaluate(f"() => {{ window._kmh = '{other.base}/'; _kmq.push(['record', 'Via Kmh']); }}")
        other.wait_event("Via Kmh")
    finally:
        ctx.close()
        other.close()


def test_never_throws_into_page(rec, page):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    url = rec.page(
        "/err.html",
        head="""_kmq.push(['nosuchcommand', 1]);
  _kmq.push(['record']);
  _kmq.push(['record', 'Bad Callback', {}, function () { throw new Error('boom'); }]);
  _kmq.push(['trackClick', ':::not a selector', 'X']);
  _kmq.push(function () { throw new Error('fn'); });
  _kmq.push(['record', 'Still Works']);""",
        body="<button id='b'>b</button>",
    )
    page.goto(url)
    km_loaded(page)
    rec.wait_event("Still Works")
    page.click("#b")
    page.evaluate("() => { KM.set('not an object'); KM.record({toString: null}); }")
    time.sleep(0.3)
    assert errors == []

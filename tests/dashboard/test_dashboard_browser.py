"""The dashboard in headless Chromium against a real whodid holding the demo
data: every page loads, and the numbers on screen are the GraphQL answers to
the same inputs (each page publishes the variables it sent in data-variables;
the test asks the API itself and compares). A bad key, an empty project and a
server error each show their state; nothing is requested from another host
(the `tab` fixture refuses and records any such request and fails the test)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.server import make_project
from tests.support.dashboard import api
from tests.support.dashboard import new_tab as _new_tab
from tests.support.live import record

pytestmark = [pytest.mark.browser]

STEPS = "{ index event people droppedOff conversionFromPrevious conversionFromStart }"


def count(n) -> str:
    """The dashboard's count format, for the small numbers of the demo (< 1000)."""
    return f"{n:,}"


def money(decimal: str) -> str:
    return f"{float(decimal):,.2f}"


def percent(rate: float) -> str:
    return f"{round(rate * 1000) / 10:.1f} %"


async def texts(page, selector: str) -> list[str]:
    return await page.eval_on_selector_all(selector, "els => els.map(e => e.textContent.trim())")


async def test_sign_in_refuses_bad_keys_and_signs_out(tab, demo, server):
    page = tab.page
    await tab.sign_in("rk_not-a-key-of-anything")
    # (wait_for_function would poll with eval, which the page's CSP forbids)
    await page.wait_for_selector("#signin-message:not(:empty)")
    assert "refused" in await page.inner_text("#signin-message")
    assert await page.is_visible("#key")
    assert await page.evaluate("sessionStorage.getItem('whodid.readKey')") is None

    await page.fill("#key", demo.write_key)
    await page.click("#signin-button")
    assert "write key" in await page.inner_text("#signin-message")

    await page.fill("#key", demo.read_key)
    await page.click("#signin-button")
    await page.wait_for_selector("#stat-people")
    assert await page.evaluate("sessionStorage.getItem('whodid.readKey')") == demo.read_key
    assert demo.read_key not in page.url
    nav = await texts(page, "#nav a")
    assert nav[:5] == ["Overview", "Funnel", "Retention", "Revenue", "People"] and nav[-1] == "Live"
    assert await page.get_attribute("#nav a[data-page=live]", "href") == "/live"
    # Trends and Paths are in the navigation exactly when the server's schema has their reports.
    schema = await api(server, demo.read_key, '{ t: __type(name: "TrendsReport") { name } p: __type(name: "PathsReport") { name } }')
    assert ("Trends" in nav) == (schema["t"] is not None) and ("Paths" in nav) == (schema["p"] is not None)

    await page.click("#signout")
    await page.wait_for_selector("#signin:not([hidden])")
    assert await page.evaluate("sessionStorage.getItem('whodid.readKey')") is None
    assert await page.inner_text("#page") == ""
    assert tab.errors == [] or all("401" in e for e in tab.errors)


async def test_overview_numbers_are_the_api_answers_and_the_live_counter_counts(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#overview-table")
    rng = await tab.variables("#overview-totals")
    data = await api(server, demo.read_key, """query($from: DateTime!, $to: DateTime!) {
        eventNames(first: 5) people(first: 0) { totalCount }
        revenueReport(input: {from: $from, to: $to}) { total refunds payingPeople } }""", rng)
    assert data["people"]["totalCount"] == 200
    assert await page.inner_text("#stat-people .stat-value") == count(200)
    assert await page.inner_text("#stat-revenue .stat-value") == money(data["revenueReport"]["total"])
    assert await page.inner_text("#stat-refunds .stat-value") == money(data["revenueReport"]["refunds"])
    assert await page.inner_text("#stat-paying .stat-value") == count(data["revenueReport"]["payingPeople"])

    # Each of the five most frequent events, counted over the same 30 days by the API.
    expected = {}
    for name in data["eventNames"]:
        total, after = 0, None
        while True:
            page_data = await api(server, demo.read_key, """query($w: EventFilter, $after: String) {
                events(where: $w, first: 1000, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }""",
                                  {"w": {"names": [name], **rng}, "after": after})
            total += len(page_data["events"]["nodes"])
            if not page_data["events"]["pageInfo"]["hasNextPage"]:
                break
            after = page_data["events"]["pageInfo"]["endCursor"]
        expected[name] = total
    shown = await page.eval_on_selector_all("#overview-table tbody tr",
                                            "rows => rows.map(r => [r.dataset.name, r.cells[1].textContent])")
    assert shown == [[name, count(n)] for name, n in expected.items()]
    assert await page.locator("#overview-chart svg").count() == 1

    await page.wait_for_selector("#live-status.live")
    await record(server, demo.write_key, "live-visitor", "Visited Site", {"URL": "/"})
    await page.wait_for_selector("#live-count[data-value='1']")
    assert "Visited Site" in await page.inner_text("#live-last")
    assert tab.errors == []


async def test_funnel_bars_segments_and_people_behind_a_bar(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/funnel?segment=person&segmentProperty=Pricing%20Page%20Experiment&baseline=Control")
    await page.wait_for_selector("#funnel-steps-table")
    variables = await tab.variables("#funnel-result")
    assert [s["event"] for s in variables["input"]["steps"]] == ["Visited Site", "Viewed Pricing Page", "Signed Up", "Billed"]
    assert variables["input"]["segmentBy"] == {"personProperty": "Pricing Page Experiment", "baseline": "Control"}
    report = (await api(server, demo.read_key, f"""query($input: FunnelInput!) {{ funnel(input: $input) {{
        steps {STEPS} segments {{ value conversionRate steps {{ people }}
          comparison {{ lift pValue probabilityToBeatBaseline significant }} }} }} }}""", variables))["funnel"]
    rows = await page.eval_on_selector_all("#funnel-steps-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent.trim()))")
    assert [r[:5] for r in rows] == [[f"{s['index'] + 1}. {s['event']}", count(s["people"]),
                                      "–" if s["index"] == 0 else count(s["droppedOff"]),
                                      percent(s["conversionFromPrevious"]), percent(s["conversionFromStart"])]
                                     for s in report["steps"]]
    assert await page.inner_text("#funnel-rate .stat-value") == percent(report["steps"][-1]["conversionFromStart"])

    segments = await page.eval_on_selector_all("#funnel-segments tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent.trim()))")
    assert len(segments) == len(report["segments"]) >= 2
    for shown, seg in zip(segments, report["segments"]):
        assert shown[1] == count(seg["steps"][0]["people"]) and shown[2] == count(seg["steps"][-1]["people"])
        assert shown[3] == percent(seg["conversionRate"])
        c = seg["comparison"]
        if c is None:
            assert shown[0].startswith("Control") and "baseline" in shown[0]
        else:
            lift = percent(c["lift"])
            assert shown[4] == (f"+{lift}" if c["lift"] > 0 else lift)
            assert shown[5] == ("< 0.001" if c["pValue"] < 0.001 else f"{c['pValue']:.3f}")
            assert shown[6] == percent(c["probabilityToBeatBaseline"])
            assert shown[7] == ("yes" if c["significant"] else "no")
    assert await page.locator("#funnel-histogram svg").count() == 1

    # Click the "Dropped" part of step 2's bar in the chart itself.
    point = await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        const el = document.getElementById('funnel-chart');
        const chart = echarts.getInstanceByDom(el);
        const opt = chart.getOption();
        const reached = opt.series[0].data[1], dropped = opt.series[1].data[1];
        const [x, y] = chart.convertToPixel({seriesIndex: 1}, [1, reached + dropped / 2]);
        const box = el.getBoundingClientRect();
        return [box.left + x, box.top + y];
    }""")
    await page.mouse.click(*point)
    await page.wait_for_selector("#funnel-people-list ul.people-list")
    dropped = (await api(server, demo.read_key, """query($input: FunnelInput!) { funnel(input: $input) {
        steps { peopleList(status: DROPPED, first: 50) { totalCount nodes { id } } } } }""", variables))["funnel"]["steps"][1]["peopleList"]
    listed = await page.eval_on_selector("#funnel-people-list ul.people-list", "ul => [ul.dataset.status, ul.dataset.step, ul.dataset.total]")
    assert listed == ["DROPPED", "1", str(dropped["totalCount"])]
    ids = await page.eval_on_selector_all("#funnel-people-list a.person-link", "as => as.map(a => a.dataset.personId)")
    assert ids == [n["id"] for n in dropped["nodes"]]

    # The people who reached the last step, by keyboard, then one person's page.
    await page.focus("#funnel-steps-table button[data-step='3'][data-status='REACHED']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#funnel-people-list ul.people-list[data-status='REACHED'][data-step='3']")
    first = page.locator("#funnel-people-list a.person-link").first
    person_id = await first.get_attribute("data-person-id")
    await first.click()
    await page.wait_for_selector("#person-identities")
    person = (await api(server, demo.read_key, "query($id: ID) { person(id: $id) { identities } }", {"id": person_id}))["person"]
    assert await texts(page, "#person-identities li") == person["identities"]
    assert tab.errors == []


async def test_retention_triangle_is_the_cohort_report(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/retention?cohorts=20&buckets=10")
    await page.wait_for_selector("#retention-table")
    variables = await tab.variables("#retention-result")
    assert variables["input"]["cohortEvent"] == "Signed Up" and variables["input"]["returnEvent"] == "Logged In"
    rows = (await api(server, demo.read_key, """query($input: CohortInput!) { cohort(input: $input) {
        rows { start size cells { index people rate complete } } } }""", variables))["cohort"]["rows"]
    rows = [r for r in rows if r["size"] > 0]
    shown = await page.eval_on_selector_all("#retention-table tbody tr", """rs => rs.map(r => ({
        start: r.dataset.start, size: Number(r.dataset.size),
        cells: [...r.querySelectorAll('td.cell')].map(c => [Number(c.dataset.people), c.textContent.replace(' (incomplete)', ''),
                                                           c.dataset.complete === 'true', c.classList.contains('incomplete')])}))""")
    assert [r["start"] for r in shown] == [r["start"] for r in rows]
    for s, r in zip(shown, rows):
        assert s["size"] == r["size"]
        assert s["cells"] == [[c["people"], percent(c["rate"]), c["complete"], not c["complete"]] for c in r["cells"]]
    assert any(not c["complete"] for r in rows for c in r["cells"]), "the newest cohorts have incomplete cells"
    assert await page.locator("#retention-heatmap svg").count() == 1
    assert tab.errors == []


async def test_revenue_totals_sources_and_top_people(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/revenue?days=365&interval=MONTH")
    await page.wait_for_selector("#revenue-top-table")
    variables = await tab.variables("#revenue-result")
    r = (await api(server, demo.read_key, """query($input: RevenueReportInput!) { revenueReport(input: $input) {
        total gross refunds payingPeople averageRevenuePerPayingPerson
        bySource { value total payingPeople } topPeople(first: 20) { nodes { revenue person { id } } } } }""", variables))["revenueReport"]
    assert Number_ok(r["total"])
    for key, fmt in [("total", money), ("gross", money), ("refunds", money), ("averageRevenuePerPayingPerson", money)]:
        sel = {"total": "#revenue-total", "gross": "#revenue-gross", "refunds": "#revenue-refunds",
               "averageRevenuePerPayingPerson": "#revenue-arppu"}[key]
        assert await page.inner_text(f"{sel} .stat-value") == fmt(r[key])
    assert await page.inner_text("#revenue-paying .stat-value") == count(r["payingPeople"])
    sources = await page.eval_on_selector_all("#revenue-source-table tbody tr", "rs => rs.map(r => [...r.cells].slice(0, 3).map(c => c.textContent))")
    assert sources == [[s["value"] or "(none)", money(s["total"]), count(s["payingPeople"])] for s in r["bySource"]]
    top = await page.eval_on_selector_all("#revenue-top-table tbody tr", "rs => rs.map(r => [r.querySelector('a').dataset.personId, r.cells[1].textContent])")
    assert top == [[n["person"]["id"], money(n["revenue"])] for n in r["topPeople"]["nodes"]]
    assert await page.locator("#revenue-chart svg").count() == 1
    assert tab.errors == []


def Number_ok(decimal: str) -> bool:
    return float(decimal) > 0


async def test_people_search_and_a_persons_page(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/people?key=Plan&op=EQ&value=Pro&didEvent=Logged%20In")
    await page.wait_for_selector("#people-table")
    variables = await tab.variables("#people-result")
    assert variables == {"where": {"properties": [{"key": "Plan", "op": "EQ", "value": "Pro"}], "didEvent": "Logged In"}}
    people = (await api(server, demo.read_key, """query($where: PeopleFilter) { people(where: $where, first: 50) {
        totalCount nodes { id lifetimeRevenue } } }""", variables))["people"]
    assert people["totalCount"] > 0
    assert await page.get_attribute("#people-count", "data-value") == str(people["totalCount"])
    ids = await page.eval_on_selector_all("#people-table a.person-link", "as => as.map(a => a.dataset.personId)")
    assert ids == [p["id"] for p in people["nodes"]]

    # The richest of them: identities, properties, a property's history, the timeline.
    await page.click(f"#people-table a[data-person-id='{people['nodes'][0]['id']}']")
    await page.wait_for_selector("#person-timeline li[data-id]")
    p = (await api(server, demo.read_key, """query($id: ID) { person(id: $id) { identities properties lifetimeRevenue
        propertyHistory(key: "Plan") { value } events(first: 50) { nodes { id name } } } }""", {"id": people["nodes"][0]["id"]}))["person"]
    assert await texts(page, "#person-identities li") == p["identities"]
    assert await page.inner_text("#person-revenue .stat-value") == money(p["lifetimeRevenue"])
    props = await page.eval_on_selector_all("#person-properties tbody tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
    assert dict(props) == {k: ("(empty)" if v == "" else v) if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                           for k, v in p["properties"].items()}
    await page.click("#person-properties button[aria-label='History of Plan']")
    await page.wait_for_selector("#person-properties .history li")
    assert [t.split(" · ")[0] for t in await texts(page, "#person-properties .history li")] == [h["value"] for h in p["propertyHistory"]]
    events = await page.eval_on_selector_all("#person-timeline li[data-id]", "ls => ls.map(l => [l.dataset.id, l.dataset.name])")
    assert events == [[e["id"], e["name"]] for e in p["events"]["nodes"]]
    assert tab.errors == []


async def test_a_view_is_a_bookmark_without_the_key(browser, demo, server):
    first = await _new_tab(browser, server)
    await first.sign_in(demo.read_key, "#/funnel?steps=Visited%20Site%0ASigned%20Up&window=86400&days=30")
    await first.page.wait_for_selector("#funnel-steps-table")
    bookmark = first.page.url
    assert demo.read_key not in bookmark and "key" not in bookmark.split("#")[1]
    await first.page.context.close()

    second = await _new_tab(browser, server)
    await second.page.goto(bookmark)
    await second.page.wait_for_selector("#signin:not([hidden])")  # a new tab has no key
    await second.page.fill("#key", demo.read_key)
    await second.page.click("#signin-button")
    await second.page.wait_for_selector("#funnel-steps-table")
    assert await second.page.input_value("textarea[name=steps]") == "Visited Site\nSigned Up"
    assert await second.page.input_value("select[name=window]") == "86400"
    assert (await second.variables("#funnel-result"))["input"]["conversionWindowSeconds"] == 86400

    # The form writes the fragment: no window at all is a state of its own too.
    await second.page.select_option("select[name=window]", "none")
    await second.page.click("#page form button[type=submit]")
    await second.page.wait_for_selector("#funnel-result[data-variables*='\"conversionWindowSeconds\":null']")
    assert "window=none" in second.page.url and "steps=Visited+Site%0ASigned+Up" in second.page.url
    await second.page.context.close()
    assert first.outside == second.outside == []


async def test_every_control_has_a_label(tab, demo):
    page = tab.page
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#stat-people")
    for fragment, ready in [("#/funnel", "#funnel-steps-table"), ("#/retention", "#retention-table"),
                            ("#/revenue", "#revenue-total"), ("#/people", "#people-table"), ("#/overview", "#stat-people")]:
        await tab.open(fragment, ready)
        unlabeled = await page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
            .map(el => el.outerHTML)""")
        assert unlabeled == [], fragment
    assert tab.errors == []


async def test_phone_width_has_a_menu_and_no_sideways_scrolling(phone, demo):
    page = phone.page
    await phone.sign_in(demo.read_key, "#/funnel")
    await page.wait_for_selector("#funnel-steps-table")
    assert not await page.is_visible("#nav")
    await page.click("#menu")
    assert await page.is_visible("#nav a[data-page=retention]")
    await page.click("#nav a[data-page=retention]")
    await page.wait_for_selector("#retention-table")
    for fragment, ready in [("#/retention", "#retention-table"), ("#/revenue", "#revenue-total"), ("#/overview", "#overview-table")]:
        await phone.open(fragment, ready)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390, fragment
    assert phone.errors == []


async def test_an_empty_project_shows_empty_states(tab, services):
    keys = await make_project(services, "dashboard-empty")
    page = tab.page
    await tab.sign_in(keys.read_key)
    await page.wait_for_selector("#overview-chart .state.empty")
    assert "No events yet" in await page.inner_text("#overview-chart")
    assert await page.inner_text("#stat-people .stat-value") == "0"
    assert await page.inner_text("#stat-revenue .stat-value") == "0.00"
    await tab.open("#/funnel?steps=Visited%20Site%0ASigned%20Up", "#funnel-result .state.empty")
    await tab.open("#/retention", "#page .state.empty")
    await tab.open("#/revenue", "#revenue-result .state.empty")
    await tab.open("#/people", "#people-result .state.empty")
    assert "No people yet" in await page.inner_text("#people-result")
    assert tab.errors == []


async def test_a_server_error_shows_its_state_and_retry_recovers(tab, demo):
    page = tab.page
    failing = {"on": True}

    async def fail_revenue(route):
        body = route.request.post_data or ""
        if failing["on"] and "revenueReport(input: $input)" in body and "series" in body:
            await route.fulfill(status=200, content_type="application/json", body=json.dumps({"data": None, "errors": [
                {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-dash-1"}}]}))
        else:
            await route.fallback()

    await page.route("**/graphql", fail_revenue)
    await tab.sign_in(demo.read_key, "#/revenue")
    await page.wait_for_selector("#revenue-result .state.error")
    text = await page.inner_text("#revenue-result")
    assert "Internal server error" in text and "req-dash-1" in text

    # An HTTP 502 from a proxy in front (no GraphQL body) on another page.
    async def bad_gateway(route):
        await route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")

    await page.unroute("**/graphql")
    await page.route("**/graphql", bad_gateway)
    await tab.open("#/people", "#page .state.error")
    assert "HTTP 502" in await page.inner_text("#page .state.error")
    await page.unroute("**/graphql")
    await page.click("#page .state.error button")
    await page.wait_for_selector("#people-table")
    tab.errors.clear()  # the browser logs the failed responses


CONTRACT = Path(__file__).resolve().parents[1] / "contract.graphql"


def contract_errors(query: str) -> list[str]:
    """The query checked against the shared contract's schema (graphql-core)."""
    from graphql import build_schema, parse, validate

    return [e.message for e in validate(build_schema(CONTRACT.read_text()), parse(query))]


async def test_pages_being_built_elsewhere_light_up_from_the_schema(tab, demo):
    """Trends, Paths, funnel exclusions and conversion over time, and the
    retention modes are modules built against the contract's shapes: they join
    the navigation and the forms when introspection finds them. Here the
    introspection says they exist; their queries are checked against the
    contract; the reports this branch lacks are answered in the contract's
    shapes, and the funnel and cohort are asked of the real server without the
    options it does not know yet."""
    page = tab.page
    sent: dict[str, str] = {}

    async def contract_server(route):
        body = json.loads(route.request.post_data or "{}")
        query = body.get("query", "")
        variables = body.get("variables") or {}
        if "DashboardCapabilities" in query:
            response = await route.fetch()
            data = await response.json()
            data["data"]["trends"] = {"name": "TrendsReport"}
            data["data"]["paths"] = {"name": "PathsReport"}
            data["data"]["funnelInput"]["inputFields"] += [{"name": "exclusions"}, {"name": "people"}]
            data["data"]["funnelReport"]["fields"] += [{"name": "trend"}]
            data["data"]["cohortInput"]["inputFields"] += [{"name": "mode"}, {"name": "cumulative"}]
            await route.fulfill(response=response, json=data)
        elif "OverviewTrends" in query:
            sent["overview"] = query
            v = variables["input"]
            await route.fulfill(json={"data": {"trends": {"series": [
                {"event": s["event"], "points": [{"start": v["from"], "value": 7}]} for s in v["series"]]}}})
        elif "trends(input: $input)" in query:
            sent["trends"] = query
            points = [{"start": f"2026-11-{d:02d}T00:00:00Z", "value": v} for d, v in [(1, 3), (2, 5), (3, 4)]]
            await route.fulfill(json={"data": {"trends": {"series": [
                {"index": 0, "event": "Visited Site", "math": "TOTAL", "breakdownValue": None, "total": 12, "points": points},
                {"index": 1, "event": "Signed Up", "math": "PEOPLE", "breakdownValue": None, "total": 1234, "points": points}]}}})
        elif "paths(input: $input)" in query:
            sent["paths"] = query
            await route.fulfill(json={"data": {"paths": {
                "nodes": [{"step": 0, "event": "Visited Site", "people": 10}, {"step": 1, "event": "Signed Up", "people": 4},
                          {"step": 1, "event": None, "people": 6}],
                "links": [{"fromStep": 0, "source": "Visited Site", "target": "Signed Up", "people": 4},
                          {"fromStep": 0, "source": "Visited Site", "target": None, "people": 6}]}}})
        elif "query Funnel(" in query and "trend(interval" in query:
            sent["funnel"] = query
            sent["funnel-input"] = json.dumps(variables["input"])
            for option in ("exclusions", "people"):
                variables["input"].pop(option, None)
            stripped = query.replace("trend(interval: MONTH) { start entered converted rate }", "")
            response = await route.fetch(post_data=json.dumps({"query": stripped, "variables": variables}))
            data = await response.json()
            data["data"]["funnel"]["trend"] = [
                {"start": "2026-10-01T00:00:00Z", "entered": 10, "converted": 2, "rate": 0.2},
                {"start": "2026-11-01T00:00:00Z", "entered": 10, "converted": 3, "rate": 0.3}]
            await route.fulfill(response=response, json=data)
        elif "query Retention(" in query:
            sent["retention"] = query
            sent["retention-input"] = json.dumps(variables["input"])
            for option in ("mode", "cumulative"):
                variables["input"].pop(option, None)
            await route.fallback(post_data=json.dumps({"query": query, "variables": variables}))
        else:
            await route.fallback()

    await page.route("**/graphql", contract_server)
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#nav a[data-page=trends]")
    assert "Paths" in await texts(page, "#nav a")
    # The overview counts its events with one trends report instead of paging through them.
    await page.wait_for_selector("#overview-table")
    assert set(await texts(page, "#overview-table tbody td.num")) == {"7"}

    await tab.open("#/trends?chart=bar", "#trends-table")
    assert await page.eval_on_selector_all("#trends-table tbody tr", "rs => rs.map(r => r.cells[1].textContent)") == ["12", "1.2k"]
    assert await page.locator("#trends-chart svg").count() == 1
    await tab.open("#/paths?startEvent=Visited%20Site", "#paths-table")
    assert await page.eval_on_selector_all("#paths-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))") == [
        ["1. Visited Site", "2. Signed Up", "4"], ["1. Visited Site", "2. other", "6"]]
    assert await page.locator("#paths-chart svg").count() == 1

    await tab.open("#/funnel?exclude=Cancelled%20Subscription%20%3A%202%20%3A%204&trendInterval=MONTH&pkey=Plan&pop=NEQ&pvalue=Pro",
                   "#funnel-trend svg")
    assert await page.input_value("textarea[name=exclude]") == "Cancelled Subscription : 2 : 4"
    assert await page.input_value("input[name=pkey]") == "Plan"
    funnel_input = json.loads(sent["funnel-input"])
    assert funnel_input["exclusions"] == [{"event": "Cancelled Subscription", "afterStep": 1, "beforeStep": 3}]
    assert funnel_input["people"] == {"properties": [{"key": "Plan", "op": "NEQ", "value": "Pro"}]}
    await tab.open("#/retention?mode=RECURRING&cumulative=1", "#retention-table")
    assert await page.input_value("select[name=mode]") == "RECURRING"
    assert {k: v for k, v in json.loads(sent["retention-input"]).items() if k in ("mode", "cumulative")} == {
        "mode": "RECURRING", "cumulative": True}

    for name in ("overview", "trends", "paths", "funnel", "retention"):
        assert contract_errors(sent[name]) == [], name
    assert tab.errors == []


async def test_number_formats(tab, demo):
    page = tab.page
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#stat-people")
    formatted = await page.evaluate("""async () => {
        const f = await import('/dashboard/static/js/format.js');
        return [f.count(0), f.count(999), f.count(1234), f.count(34567), f.count(1250000), f.count(null),
                f.percent(0.345), f.percent(0), f.percent(1), f.signedPercent(0.12), f.money("1234.5"), f.money("-470.4"),
                f.money("0"), f.pValue(0.0004), f.pValue(0.0123), f.duration(42), f.duration(300), f.duration(121000)];
    }""")
    assert formatted == ["0", "999", "1.2k", "34.6k", "1.3M", "–", "34.5 %", "0.0 %", "100.0 %", "+12.0 %",
                         "1,234.50", "-470.40", "0.00", "< 0.001", "0.012", "42 s", "5 min", "1.4 d"]


async def test_keyboard_reaches_the_navigation_and_opens_a_page(tab, demo):
    page = tab.page
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#stat-people")
    await page.evaluate("document.activeElement.blur()")
    order = []
    for _ in range(4):
        await page.keyboard.press("Tab")
        order.append(await page.evaluate("document.activeElement.textContent.trim()"))
    assert order == ["Skip to content", "whodid", "Overview", "Funnel"]
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#funnel-steps-table")
    assert await page.get_attribute("#nav a[data-page=funnel]", "aria-current") == "page"


async def test_names_from_the_data_are_shown_as_text(tab, services, server):
    keys = await make_project(services, "dashboard-text")
    name = '<img src="x" id="injected"> Signed <b>Up</b>'
    await record(server, keys.write_key, "eve@example.com", name, {"Plan": "<i>pro</i>"})
    page = tab.page
    await tab.sign_in(keys.read_key)
    await page.wait_for_selector("#overview-table")
    assert await texts(page, "#overview-table tbody td:first-child") == [name]
    person = (await api(server, keys.read_key, '{ person(identity: "eve@example.com") { id } }'))["person"]
    await tab.open(f"#/person?id={person['id']}", "#person-timeline li[data-id]")
    assert name in await page.inner_text("#person-timeline")
    assert "Plan: <i>pro</i>" in await page.inner_text("#person-timeline")
    assert await page.locator("#injected, #page b, #page i").count() == 0
    assert tab.errors == []


async def test_a_slow_report_shows_its_loading_state(tab, demo):
    page = tab.page
    import asyncio

    async def slow_funnel(route):
        if "query Funnel(" in (route.request.post_data or ""):
            await asyncio.sleep(1.5)
        await route.fallback()

    await page.route("**/graphql", slow_funnel)
    await tab.sign_in(demo.read_key, "#/funnel")
    await page.wait_for_selector("#funnel-result .state.loading")
    assert "Computing the funnel" in await page.inner_text("#funnel-result")
    await page.wait_for_selector("#funnel-steps-table")
    assert await page.locator("#funnel-result .state.loading").count() == 0
    assert tab.errors == []

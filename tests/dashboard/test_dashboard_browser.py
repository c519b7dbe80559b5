"""The dashboard in headless Chromium against a real whodid holding the demo
data: every page loads, and the numbers on screen are the GraphQL answers to
the same inputs (each page publishes the variables it sent in data-variables;
the test asks the API itself and compares). A bad key, an empty project and a
server error each show their state; nothing is requested from another host
(the `tab` fixture refuses and records any such request and fails the test)."""
from __future__ import annotations

import json

import pytest

from tests.support.server import make_project
from tests.support.dashboard import Tab, api, graphql_request, is_graphql
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
    assert nav == ["Overview", "Trends", "Funnel", "Retention", "Lifecycle", "Stickiness", "Paths", "Revenue", "People", "Live"]
    assert await page.get_attribute("#nav a[data-page=live]", "href") == "/live"

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
    await click_chart(page, *point)
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
                            ("#/revenue", "#revenue-total"), ("#/people", "#people-table"), ("#/overview", "#stat-people"),
                            ("#/trends", "#trends-table"), ("#/paths", "#paths-table"), ("#/lifecycle", "#lifecycle-table"),
                            ("#/stickiness", "#stickiness-table")]:
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
    for fragment, ready in [("#/retention", "#retention-table"), ("#/revenue", "#revenue-total"), ("#/overview", "#overview-table"),
                            ("#/trends", "#trends-table"), ("#/paths", "#paths-table"), ("#/lifecycle", "#lifecycle-table"),
                            ("#/stickiness", "#stickiness-table")]:
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
    for fragment in ("#/trends", "#/paths", "#/lifecycle", "#/stickiness"):
        await tab.open(fragment, "#page .state.empty")
    assert tab.errors == []


async def test_a_server_error_shows_its_state_and_retry_recovers(tab, demo):
    page = tab.page
    failing = {"on": True}

    async def fail_revenue(route):
        if failing["on"] and graphql_request(route.request)["operationName"] == "Revenue":
            await route.fulfill(status=200, content_type="application/json", body=json.dumps({"data": None, "errors": [
                {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-dash-1"}}]}))
        else:
            await route.fallback()

    await page.route("**/graphql*", fail_revenue)
    await tab.sign_in(demo.read_key, "#/revenue")
    await page.wait_for_selector("#revenue-result .state.error")
    text = await page.inner_text("#revenue-result")
    assert "Internal server error" in text and "req-dash-1" in text

    # An HTTP 502 from a proxy in front (no GraphQL body) on another page.
    async def bad_gateway(route):
        await route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")

    await page.unroute("**/graphql*")
    await page.route("**/graphql*", bad_gateway)
    await tab.open("#/people", "#page .state.error")
    assert "HTTP 502" in await page.inner_text("#page .state.error")
    await page.unroute("**/graphql*")
    await page.click("#page .state.error button")
    await page.wait_for_selector("#people-table")
    tab.errors.clear()  # the browser logs the failed responses


def fcount(n) -> str:
    """format.js count() for any number: 999, 12.5, 1.2k, 3.4M."""
    import math

    if n is None:
        return "–"
    a = abs(n)
    if a < 1000:
        if float(n).is_integer():
            return f"{int(n):,}"
        r = math.floor(n * 100 + 0.5) / 100
        return f"{int(r):,}" if float(r).is_integer() else f"{r:,}"
    x, unit = (n / 1e3, "k") if a < 999950 else (n / 1e6, "M")
    r = math.floor(x * 10 + 0.5) / 10
    return (f"{int(r):,}" if float(r).is_integer() else f"{r:,}") + unit


PEOPLE_PAGE = "totalCount nodes { id }"


async def click_chart(page, x: float, y: float) -> None:
    """Click a chart at (x, y) as a person does: the pointer rests on the mark
    first, so its hover state is drawn before the button goes down (zrender
    drops a click whose mousedown and mouseup find different elements, which a
    hover state drawn in between can cause on a loaded machine). A click the
    chart dropped anyway (no GraphQL request follows within 3 s) is made
    again, as a person would, up to three times."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        await page.mouse.move(x, y)
        await page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        try:
            async with page.expect_request(is_graphql, timeout=3000):
                await page.mouse.click(x, y)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


async def listed_people(page, selector: str) -> list[str]:
    await page.wait_for_selector(f"{selector} ul.people-list, {selector} .state.empty")
    return await page.eval_on_selector_all(f"{selector} a.person-link", "as => as.map(a => a.dataset.personId)")


async def test_overview_counts_events_with_one_trends_report(tab, demo, server):
    page = tab.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(graphql_request(r)) if is_graphql(r) else None)
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#overview-table")
    assert any(q["operationName"] == "OverviewTrends" for q in sent)
    assert not any(q["operationName"] == "OverviewEvents" for q in sent), "the overview no longer pages through events"
    # One report asked once (a GET with the hash, and a POST with the query if the server did not know it yet).
    trends_calls = [q for q in sent if q["operationName"] == "OverviewTrends"]
    assert [q["method"] for q in trends_calls] in (["GET"], ["GET", "POST"]), trends_calls
    variables = trends_calls[0]["variables"]
    report = (await api(server, demo.read_key, """query($input: TrendsInput!) { trends(input: $input) {
        series { event total } } }""", variables))["trends"]
    shown = await page.eval_on_selector_all("#overview-table tbody tr", "rs => rs.map(r => [r.dataset.name, Number(r.dataset.value), r.cells[1].textContent])")
    assert shown == [[s["event"], s["total"], fcount(s["total"])] for s in report["series"]]
    assert tab.errors == []


async def test_trends_series_table_points_and_the_people_of_a_point(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/trends?series=Visited%20Site%20%7C%20TOTAL%0ASigned%20Up%20%7C%20PEOPLE%0ALogged%20In%20%7C%20EVENTS_PER_PERSON&chart=bar&interval=WEEK&days=90")
    await page.wait_for_selector("#trends-table")
    variables = await tab.variables("#trends-result")
    assert [(s["event"], s["math"]) for s in variables["input"]["series"]] == [
        ("Visited Site", "TOTAL"), ("Signed Up", "PEOPLE"), ("Logged In", "EVENTS_PER_PERSON")]
    assert variables["input"]["interval"] == "WEEK"
    report = (await api(server, demo.read_key, """query($input: TrendsInput!) { trends(input: $input) {
        series { index event math breakdownValue total points { start value } } } }""", variables))["trends"]
    totals = await page.eval_on_selector_all("#trends-table tbody tr", "rs => rs.map(r => r.cells[1].textContent)")
    assert totals == [fcount(s["total"]) for s in report["series"]]
    rows = await page.eval_on_selector_all("#trends-points tbody tr", """rs => rs.map(r => [r.dataset.start,
        ...[...r.querySelectorAll('td.num')].map(c => c.textContent)])""")
    expected = [[p["start"], *[fcount(s["points"][i]["value"]) for s in report["series"]]]
                for i, p in enumerate(report["series"][0]["points"])]
    assert rows == expected
    assert sum(p["value"] or 0 for p in report["series"][0]["points"]) > 0
    assert await page.locator("#trends-chart svg").count() == 1
    chart_type = await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        return echarts.getInstanceByDom(document.getElementById('trends-chart')).getOption().series.map(s => s.type); }""")
    assert chart_type == ["bar", "bar", "bar"]

    # The people of the busiest week of the PEOPLE series, clicked in the chart.
    people_series = report["series"][1]
    best = max(range(len(people_series["points"])), key=lambda i: people_series["points"][i]["value"] or 0)
    point = await page.evaluate("""async (i) => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        const el = document.getElementById('trends-chart');
        const chart = echarts.getInstanceByDom(el);
        const v = chart.getOption().series[1].data[i];
        const [x, y] = chart.convertToPixel({seriesIndex: 1}, [i, v / 2]);
        const box = el.getBoundingClientRect();
        return [box.left + x, box.top + y]; }""", best)
    await click_chart(page, *point)
    ids = await listed_people(page, "#trends-people")
    one = {**variables["input"], "series": [variables["input"]["series"][1]]}
    answer = (await api(server, demo.read_key, f"""query($input: TrendsInput!) {{ trends(input: $input) {{
        series {{ points {{ start peopleList(first: 50) {{ {PEOPLE_PAGE} }} }} }} }} }}""", {"input": one}))["trends"]
    expected_point = answer["series"][0]["points"][best]
    assert expected_point["peopleList"]["totalCount"] == people_series["points"][best]["value"] > 0
    assert ids == [n["id"] for n in expected_point["peopleList"]["nodes"]]
    assert await page.get_attribute("#trends-people ul.people-list", "data-total") == str(expected_point["peopleList"]["totalCount"])

    # A line chart broken down by an event property, with the people filter.
    await tab.open("#/trends?series=Viewed%20Pricing%20Page%20%7C%20PEOPLE&breakdown=Pricing%20Page%20Experiment&days=90"
                   "&pkey=Campaign%20Source&pop=EQ&pvalue=google", "#trends-table")
    variables = await tab.variables("#trends-result")
    assert variables["input"]["breakdown"] == {"eventProperty": "Pricing Page Experiment", "limit": 10}
    assert variables["input"]["people"] == {"properties": [{"key": "Campaign Source", "op": "EQ", "value": "google"}]}
    report = (await api(server, demo.read_key, """query($input: TrendsInput!) { trends(input: $input) {
        series { event math breakdownValue total } } }""", variables))["trends"]
    assert {s["breakdownValue"] for s in report["series"]} >= {"Control", "Annual Discount"}
    shown = await page.eval_on_selector_all("#trends-table tbody tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
    assert shown == [[f"Viewed Pricing Page (people) · {s['breakdownValue']}" if s["breakdownValue"] is not None
                      else "Viewed Pricing Page (people)", fcount(s["total"])] for s in report["series"]]
    assert await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        return echarts.getInstanceByDom(document.getElementById('trends-chart')).getOption().series[0].type; }""") == "line"
    # A point of the line clicked on its symbol: the people of that breakdown value in that period.
    point = await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        const el = document.getElementById('trends-chart');
        const chart = echarts.getInstanceByDom(el);
        const data = chart.getOption().series[0].data;
        const i = data.indexOf(Math.max(...data));
        const [x, y] = chart.convertToPixel({seriesIndex: 0}, [i, data[i]]);
        const box = el.getBoundingClientRect();
        return [i, box.left + x, box.top + y]; }""")
    await click_chart(page, point[1], point[2])
    ids = await listed_people(page, "#trends-people")
    answer = (await api(server, demo.read_key, f"""query($input: TrendsInput!) {{ trends(input: $input) {{
        series {{ breakdownValue points {{ peopleList(first: 50) {{ {PEOPLE_PAGE} }} }} }} }} }}""", variables))["trends"]
    expected_point = answer["series"][0]["points"][point[0]]["peopleList"]
    assert ids == [n["id"] for n in expected_point["nodes"]] and len(ids) > 0
    assert await page.get_attribute("#trends-people ul.people-list", "data-total") == str(expected_point["totalCount"])
    assert tab.errors == []


PATHS = """query($input: PathsInput!) { paths(input: $input) { nodes { step event people } links { fromStep source target people } } }"""


async def test_paths_from_a_start_and_to_an_end_and_the_people_at_a_node(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/paths?startEvent=Viewed%20Pricing%20Page&days=182&depth=3&limit=4")
    await page.wait_for_selector("#paths-table")
    variables = await tab.variables("#paths-result")
    assert variables["input"]["startEvent"] == "Viewed Pricing Page" and "endEvent" not in variables["input"]
    report = (await api(server, demo.read_key, PATHS, variables))["paths"]
    name = lambda step, event: f"{step + 1}. {event or 'other'}"  # noqa: E731
    links = await page.eval_on_selector_all("#paths-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert links == [[name(l["fromStep"], l["source"]), name(l["fromStep"] + 1, l["target"]), fcount(l["people"])] for l in report["links"]]
    nodes = await page.eval_on_selector_all("#paths-nodes tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert nodes == [[str(n["step"] + 1), n["event"] or "other", fcount(n["people"])] for n in report["nodes"]]
    assert await page.locator("#paths-chart svg").count() == 1
    assert len(report["links"]) >= 2

    # The people at the second node of step 2, from its button (keyboard).
    target = next(n for n in report["nodes"] if n["step"] == 1)
    await page.focus(f"#paths-nodes button[data-step='1'][data-event='{target['event'] or ''}']")
    await page.keyboard.press("Enter")
    ids = await listed_people(page, "#paths-people")
    answer = (await api(server, demo.read_key, f"""query($input: PathsInput!) {{ paths(input: $input) {{
        nodes {{ step event peopleList(first: 50) {{ {PEOPLE_PAGE} }} }} }} }}""", variables))["paths"]
    node = next(n for n in answer["nodes"] if n["step"] == 1 and n["event"] == target["event"])
    assert node["peopleList"]["totalCount"] == target["people"]
    assert ids == [n["id"] for n in node["peopleList"]["nodes"]]

    # To an end event: steps count back to it.
    await tab.open("#/paths?endEvent=Signed%20Up&days=182&depth=3&limit=3", "#paths-result[data-variables*='endEvent'] #paths-table")
    variables = await tab.variables("#paths-result")
    assert variables["input"]["endEvent"] == "Signed Up" and "startEvent" not in variables["input"]
    report = (await api(server, demo.read_key, PATHS, variables))["paths"]
    back = lambda step, event: f"{'end' if step == 0 else step}. {event or 'other'}"  # noqa: E731
    links = await page.eval_on_selector_all("#paths-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert links == [[back(l["fromStep"], l["source"]), back(l["fromStep"] + 1, l["target"]), fcount(l["people"])] for l in report["links"]]
    assert any(n["step"] == 0 and n["event"] == "Signed Up" for n in report["nodes"])
    # A node clicked in the Sankey itself.
    point = await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        const el = document.getElementById('paths-chart');
        const chart = echarts.getInstanceByDom(el);
        const data = chart.getModel().getSeriesByIndex(0).getData();
        const i = data.count() - 1;
        const rect = chart.getViewOfSeriesModel(chart.getModel().getSeriesByIndex(0)).group.childAt(0);
        const layout = data.getItemLayout(i);
        const view = chart.getModel().getSeriesByIndex(0).layoutInfo;
        const box = el.getBoundingClientRect();
        return [i, box.left + view.x + layout.x + layout.dx / 2, box.top + view.y + layout.y + layout.dy / 2]; }""")
    await click_chart(page, point[1], point[2])
    await page.wait_for_selector("#paths-people ul.people-list")
    clicked = report["nodes"][point[0]]
    assert await page.get_attribute("#paths-people ul.people-list", "data-step") == str(clicked["step"])
    assert await page.get_attribute("#paths-people ul.people-list", "data-total") == str(clicked["people"])
    assert tab.errors == []


async def test_funnel_exclusions_hold_constant_people_filter_and_conversion_over_time(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/funnel?steps=Signed%20Up%0ABilled%0ALogged%20In&days=182&window=none"
                      "&exclude=Refunded%20%3A%202%20%3A%203&hold=&trendInterval=MONTH&pkey=Campaign%20Source&pop=NEQ&pvalue=google")
    await page.wait_for_selector("#funnel-trend-table")
    assert await page.input_value("textarea[name=exclude]") == "Refunded : 2 : 3"
    variables = await tab.variables("#funnel-result")
    assert variables["input"]["exclusions"] == [{"event": "Refunded", "afterStep": 1, "beforeStep": 2}]
    assert variables["input"]["people"] == {"properties": [{"key": "Campaign Source", "op": "NEQ", "value": "google"}]}
    report = (await api(server, demo.read_key, f"""query($input: FunnelInput!) {{ funnel(input: $input) {{
        steps {STEPS} trend(interval: MONTH) {{ start entered converted rate }} }} }}""", variables))["funnel"]
    rows = await page.eval_on_selector_all("#funnel-steps-table tbody tr", "rs => rs.map(r => [...r.cells].slice(0, 3).map(c => c.textContent.trim()))")
    assert rows == [[f"{s['index'] + 1}. {s['event']}", count(s["people"]), "–" if s["index"] == 0 else count(s["droppedOff"])]
                    for s in report["steps"]]
    plain = {k: v for k, v in variables["input"].items() if k not in ("exclusions", "people")}
    unfiltered = (await api(server, demo.read_key, f"query($input: FunnelInput!) {{ funnel(input: $input) {{ steps {STEPS} }} }}",
                            {"input": plain}))["funnel"]
    assert unfiltered["steps"][0]["people"] > report["steps"][0]["people"], "the options change the answer"
    trend = await page.eval_on_selector_all("#funnel-trend-table tbody tr", "rs => rs.map(r => [...r.cells].slice(1).map(c => c.textContent))")
    assert trend == [[count(p["entered"]), count(p["converted"]), percent(p["rate"])] for p in report["trend"]]
    assert sum(p["entered"] for p in report["trend"]) == report["steps"][0]["people"]
    assert await page.locator("#funnel-trend svg").count() == 1

    # holdConstant from the form (an event property every step must share).
    await tab.open("#/funnel?steps=Visited%20Site%0AViewed%20Pricing%20Page&days=182&hold=URL", "#funnel-result[data-variables*='holdConstant'] #funnel-steps-table")
    variables = await tab.variables("#funnel-result")
    assert variables["input"]["holdConstant"] == "URL"
    report = (await api(server, demo.read_key, f"query($input: FunnelInput!) {{ funnel(input: $input) {{ steps {STEPS} }} }}", variables))["funnel"]
    assert await texts(page, "#funnel-steps-table tbody tr td:nth-child(2)") == [count(s["people"]) for s in report["steps"]]
    assert tab.errors == []


async def test_retention_recurring_cumulative_with_a_people_filter(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/retention?mode=RECURRING&cumulative=1&cohorts=12&buckets=6&pkey=Plan&pop=EXISTS")
    await page.wait_for_selector("#retention-table")
    assert await page.input_value("select[name=mode]") == "RECURRING"
    variables = await tab.variables("#retention-result")
    assert variables["input"]["mode"] == "RECURRING" and variables["input"]["cumulative"] is True
    assert variables["input"]["people"] == {"properties": [{"key": "Plan", "op": "EXISTS"}]}
    rows = (await api(server, demo.read_key, """query($input: CohortInput!) { cohort(input: $input) {
        rows { start size cells { index people rate complete } } } }""", variables))["cohort"]["rows"]
    rows = [r for r in rows if r["size"] > 0]
    assert rows
    shown = await page.eval_on_selector_all("#retention-table tbody tr", """rs => rs.map(r => ({
        start: r.dataset.start, size: Number(r.dataset.size),
        cells: [...r.querySelectorAll('td.cell')].map(c => [Number(c.dataset.people), c.textContent.replace(' (incomplete)', '')])}))""")
    assert [r["start"] for r in shown] == [r["start"] for r in rows]
    for s, r in zip(shown, rows):
        assert s["size"] == r["size"]
        assert s["cells"] == [[c["people"], percent(c["rate"])] for c in r["cells"]]
        # cumulative: a cell counts those who returned in its bucket or later, so it never grows.
        assert all(a["people"] >= b["people"] for a, b in zip(r["cells"], r["cells"][1:]))
    assert tab.errors == []


async def test_lifecycle_bars_table_and_people(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/lifecycle?event=Logged%20In&interval=WEEK&days=90")
    await page.wait_for_selector("#lifecycle-table")
    variables = await tab.variables("#lifecycle-result")
    report = (await api(server, demo.read_key, """query($input: LifecycleInput!) { lifecycle(input: $input) {
        points { start new returning resurrecting dormant } } }""", variables))["lifecycle"]
    rows = await page.eval_on_selector_all("#lifecycle-table tbody tr", """rs => rs.map(r => [r.dataset.start,
        ...[...r.querySelectorAll('td.num')].map(c => c.textContent)])""")
    fields = ["new", "returning", "resurrecting", "dormant"]
    assert rows == [[p["start"], *[count(p[f]) for f in fields]] for p in report["points"]]
    bars = await page.evaluate("""async () => {
        const echarts = await import('/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js');
        return echarts.getInstanceByDom(document.getElementById('lifecycle-chart')).getOption().series.map(s => [s.name, s.data]); }""")
    assert bars == [[f.capitalize(), [-p[f] if f == "dormant" else p[f] for p in report["points"]]] for f in fields]
    i = max(range(len(report["points"])), key=lambda k: report["points"][k]["returning"])
    await page.click(f"#lifecycle-table button[data-point='{i}'][data-status='RETURNING']")
    ids = await listed_people(page, "#lifecycle-people")
    answer = (await api(server, demo.read_key, f"""query($input: LifecycleInput!) {{ lifecycle(input: $input) {{
        points {{ start peopleList(status: RETURNING, first: 50) {{ {PEOPLE_PAGE} }} }} }} }}""", variables))["lifecycle"]
    assert answer["points"][i]["peopleList"]["totalCount"] == report["points"][i]["returning"] > 0
    assert ids == [n["id"] for n in answer["points"][i]["peopleList"]["nodes"]]
    assert tab.errors == []


async def test_stickiness_bars_table_and_people(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/stickiness?event=Logged%20In&interval=WEEK&days=90&pkey=Plan&pop=EXISTS")
    await page.wait_for_selector("#stickiness-table")
    variables = await tab.variables("#stickiness-result")
    report = (await api(server, demo.read_key, """query($input: StickinessInput!) { stickiness(input: $input) {
        intervals buckets { periods people } } }""", variables))["stickiness"]
    rows = await page.eval_on_selector_all("#stickiness-table tbody tr", "rs => rs.map(r => [...r.cells].slice(0, 2).map(c => c.textContent))")
    assert rows == [[str(b["periods"]), count(b["people"])] for b in report["buckets"]]
    assert await page.inner_text("#stickiness-intervals .stat-value") == count(report["intervals"])
    assert await page.inner_text("#stickiness-people-total .stat-value") == count(sum(b["people"] for b in report["buckets"]))
    b = max(report["buckets"], key=lambda x: x["people"])
    await page.click(f"#stickiness-table button[data-periods='{b['periods']}']")
    ids = await listed_people(page, "#stickiness-people")
    answer = (await api(server, demo.read_key, f"""query($input: StickinessInput!) {{ stickiness(input: $input) {{
        buckets {{ periods peopleList(first: 50) {{ {PEOPLE_PAGE} }} }} }} }}""", variables))["stickiness"]
    expected = next(x for x in answer["buckets"] if x["periods"] == b["periods"])["peopleList"]
    assert ids == [n["id"] for n in expected["nodes"]] and expected["totalCount"] == b["people"]
    assert tab.errors == []


async def test_every_query_of_the_new_pages_costs_under_half_the_maximum(tab, demo):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/trends?series=Signed%20Up%20%7C%20PEOPLE&interval=WEEK&days=90")
    await page.wait_for_selector("#trends-points button[data-series='0']")
    await page.click("#trends-points button[data-series='0']")
    await page.wait_for_selector("#trends-people ul.people-list")
    for fragment, ready, button, people in [
            ("#/paths?startEvent=Visited%20Site&days=90", "#paths-nodes", "#paths-nodes button", "#paths-people"),
            ("#/lifecycle", "#lifecycle-table", "#lifecycle-table button", "#lifecycle-people"),
            ("#/stickiness", "#stickiness-table", "#stickiness-table button", "#stickiness-people"),
            ("#/funnel?trendInterval=DAY&exclude=Refunded%20%3A%201%20%3A%202", "#funnel-trend-table", "#funnel-steps-table button", "#funnel-people"),
            ("#/retention?mode=RECURRING&cumulative=1&cohorts=52&buckets=52", "#retention-table", None, None),
            ("#/overview", "#overview-table", None, None)]:
        await tab.open(fragment, ready)
        if button:
            await page.click(button)
            await page.wait_for_selector(f"{people} ul.people-list")
    costs = await tab.costs()
    names = {name for name, _, _ in costs}
    assert {"query Trends", "query TrendsPeople", "query Paths", "query PathsPeople", "query Lifecycle", "query LifecyclePeople",
            "query Stickiness", "query StickinessPeople", "query Funnel", "query FunnelPeople", "query Retention",
            "query OverviewTrends"} <= names, names
    assert all(cost <= maximum / 2 for _, cost, maximum in costs), sorted(costs, key=lambda c: -c[1])[:3]
    assert tab.errors == []


async def test_a_server_without_the_newer_reports_gets_the_older_pages(tab, demo):
    """Against a server of the same contract that lacks the newer reports (its
    introspection says so), the pages and options of those reports stay out,
    and the overview counts by paging through `events` instead."""
    page = tab.page
    sent: list[str] = []

    async def older_server(route):
        body = graphql_request(route.request)
        sent.append(body["operationName"])
        response = await route.fetch() if body["operationName"] == "DashboardCapabilities" else None
        data = await response.json() if response else None
        if data and data.get("data"):  # not the PersistedQueryNotFound of a hash the server does not know yet
            for name in ("trends", "paths", "lifecycle", "stickiness"):
                data["data"][name] = None
            newer = {"exclusions", "holdConstant", "people", "trend", "mode", "cumulative"}
            for t in ("funnelInput", "cohortInput", "revenueInput", "trendsInput", "pathsInput", "lifecycleInput", "stickinessInput"):
                data["data"][t]["inputFields"] = [f for f in data["data"][t]["inputFields"] if f["name"] not in newer]
            data["data"]["funnelReport"]["fields"] = [f for f in data["data"]["funnelReport"]["fields"] if f["name"] not in newer]
            await route.fulfill(response=response, json=data)
        elif response:
            await route.fulfill(response=response)
        else:
            await route.fallback()

    await page.route("**/graphql*", older_server)
    await tab.sign_in(demo.read_key)
    await page.wait_for_selector("#overview-table")
    assert await texts(page, "#nav a") == ["Overview", "Funnel", "Retention", "Revenue", "People", "Live"]
    assert "OverviewEvents" in sent and "OverviewTrends" not in sent
    paged = await page.eval_on_selector_all("#overview-table tbody tr", "rs => rs.map(r => [r.dataset.name, r.cells[1].textContent])")
    rng = await tab.variables("#overview-totals")
    await tab.open("#/trends", "#overview-table")  # an unknown page is the overview
    await tab.open("#/funnel", "#funnel-steps-table")
    assert await page.locator("textarea[name=exclude], input[name=pkey], select[name=trendInterval]").count() == 0
    await tab.open("#/retention", "#retention-table")
    assert await page.locator("select[name=mode], select[name=cumulative], input[name=pkey]").count() == 0
    await page.unroute("**/graphql*")

    # The same counts from the trends report, on the real server's schema.
    # The numbers are the events the API lists (fresh: a trends report may be up to its cache TTL old).
    expected = []
    for name, _ in paged:
        total, after = 0, None
        while True:
            data = (await api(tab.base, demo.read_key, """query($w: EventFilter, $after: String) {
                events(where: $w, first: 1000, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }""",
                              {"w": {"names": [name], **rng}, "after": after}))["events"]
            total += len(data["nodes"])
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        expected.append([name, count(total)])
    assert paged == expected
    assert tab.errors == []


async def test_revenue_with_the_people_filter(tab, demo, server):
    page = tab.page
    await tab.sign_in(demo.read_key, "#/revenue?days=365&interval=MONTH&pkey=Campaign%20Source&pop=EQ&pvalue=google")
    await page.wait_for_selector("#revenue-top-table, #revenue-result .state.empty")
    variables = await tab.variables("#revenue-result")
    assert variables["input"]["people"] == {"properties": [{"key": "Campaign Source", "op": "EQ", "value": "google"}]}
    r = (await api(server, demo.read_key, """query($input: RevenueReportInput!) { revenueReport(input: $input) { total payingPeople } }""",
                   variables))["revenueReport"]
    assert await page.inner_text("#revenue-total .stat-value") == money(r["total"])
    assert await page.inner_text("#revenue-paying .stat-value") == count(r["payingPeople"])
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
    assert order == ["Skip to content", "whodid", "Overview", "Trends"]
    await page.keyboard.press("Tab")
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
        if graphql_request(route.request)["operationName"] == "Funnel":
            await asyncio.sleep(1.5)
        await route.fallback()

    await page.route("**/graphql*", slow_funnel)
    await tab.sign_in(demo.read_key, "#/funnel")
    await page.wait_for_selector("#funnel-result .state.loading")
    assert "Computing the funnel" in await page.inner_text("#funnel-result")
    await page.wait_for_selector("#funnel-steps-table")
    assert await page.locator("#funnel-result .state.loading").count() == 0
    assert tab.errors == []


# ---------------------------------------------------------------- persisted queries and cost


async def _graphql_requests(tab: Tab) -> list:
    requests: list = []
    tab.page.on("request", lambda r: requests.append(r) if is_graphql(r) else None)
    return requests


async def test_queries_are_persisted_gets_and_a_known_hash_needs_no_post(browser, demo, database_url):
    """In a server that knows no hash yet (its own APQ store, no Redis), each
    query is first a GET carrying only its hash, then a POST with the query
    and that hash; a fresh page on the same server sends GETs only."""
    import hashlib

    from app.config import Settings
    from app.server import create_app
    from tests.support.server import serving

    async with serving(create_app(Settings(report_ttl=60), dsn=database_url)) as base:
        first = await _new_tab(browser, base)
        requests = await _graphql_requests(first)
        await first.sign_in(demo.read_key, "#/funnel")
        await first.page.wait_for_selector("#funnel-steps-table")
        sent = [graphql_request(r) for r in requests]
        operations = {s["operationName"] for s in sent}
        assert {"DashboardCapabilities", "Names", "PropertyKeys", "Funnel"} <= operations, operations
        for name in operations:
            mine = [s for s in sent if s["operationName"] == name]
            assert mine[0]["method"] == "GET" and mine[0]["query"] is None and len(mine[0]["hash"]) == 64, mine[0]
            assert mine[1]["method"] == "POST" and mine[1]["hash"] == mine[0]["hash"], mine
            assert hashlib.sha256(mine[1]["query"].encode()).hexdigest() == mine[0]["hash"]
            assert len(mine) == 2, mine
        for r in requests:  # the key only in the header
            assert demo.read_key not in r.url
            assert (await r.all_headers())["authorization"] == f"Bearer {demo.read_key}"
        funnel_get = next(r for r in requests if r.method == "GET" and graphql_request(r)["operationName"] == "Funnel")
        answer = await funnel_get.response()
        assert (await answer.json())["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        cost = first.page.locator("#cost")
        assert int(await cost.get_attribute("data-requested")) > 1000  # the funnel's, the page's last answer
        assert await cost.get_attribute("data-max") == "50000" and await cost.get_attribute("data-operation") == "Funnel"
        assert "Last query cost" in await cost.inner_text()
        await first.page.context.close()

        second = await _new_tab(browser, base)  # a fresh page (and browser cache), the same server
        requests = await _graphql_requests(second)
        await second.sign_in(demo.read_key, "#/funnel")
        await second.page.wait_for_selector("#funnel-steps-table")
        sent = [graphql_request(r) for r in requests]
        assert {"DashboardCapabilities", "Names", "PropertyKeys", "Funnel"} <= {s["operationName"] for s in sent}
        assert [s["method"] for s in sent] == ["GET"] * len(sent) and all(s["query"] is None for s in sent), sent
        for r in requests:
            response = await r.response()
            assert response.status == 200 and not (await response.json()).get("errors")
        report = next(r for r in requests if graphql_request(r)["operationName"] == "Funnel")
        assert (await (await report.response()).all_headers())["cache-control"] == "private, max-age=60"
        await second.page.context.close()
        assert first.outside == second.outside == [] and first.errors == second.errors == []


async def test_without_crypto_subtle_queries_are_plain_posts(browser, demo, server):
    """A plain-http page on a non-local host has no crypto.subtle: the dashboard
    then POSTs its queries as before."""
    tab = await _new_tab(browser, server)
    await tab.page.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })")
    requests = await _graphql_requests(tab)
    await tab.sign_in(demo.read_key, "#/revenue")
    await tab.page.wait_for_selector("#revenue-result table")
    sent = [graphql_request(r) for r in requests]
    assert sent and all(s["method"] == "POST" and s["query"] and not s["extensions"] for s in sent), sent
    await tab.page.context.close()
    assert tab.outside == [] and tab.errors == []


async def test_a_too_costly_view_says_so(browser, demo, database_url):
    """A server whose maximum cost is below a report's price refuses it
    (QUERY_TOO_COSTLY, unexecuted): the page's error state says what to do."""
    from app.config import Settings
    from app.server import create_app
    from tests.support.server import serving

    async with serving(create_app(Settings(report_ttl=60, max_query_cost=1000), dsn=database_url)) as base:
        tab = await _new_tab(browser, base)
        await tab.sign_in(demo.read_key, "#/funnel")
        await tab.page.wait_for_selector("#funnel-result .state.error")
        text = await tab.page.inner_text("#funnel-result .state.error")
        assert "This view asks for too much at once: narrow the range or the list" in text, text
        assert "this server allows 1,000 per query" in text
        cost = tab.page.locator("#cost")
        assert int(await cost.get_attribute("data-requested")) > int(await cost.get_attribute("data-max")) == 1000
        # The form is still there to narrow the view.
        assert await tab.page.locator("form textarea, form input").count() > 0
        await tab.page.context.close()
        assert tab.outside == [] and tab.errors == []

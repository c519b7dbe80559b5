"""Whole answers of report queries kept per process (app/graphql/answers.py):
kept only once every report in them is a cache hit, the same body as the
engine's, gone with a removal (this process at once, another by NOTIFY), never
for a query that reads people live, and never past its reports' entries."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from strawberry.types import ExecutionResult

from app.graphql.answers import TOTALS, ReportAnswers
from app.ingest.validation import EventIn
from app.reports.service import Seen
from tests.support.scenarios import T

REVENUE = """query($i: RevenueReportInput!) { revenueReport(input: $i) { total payingPeople computedAt cached
  series { start total } } }"""
TRENDS_PEOPLE = """query($i: TrendsInput!) { trends(input: $i) { cached series { points { start value
  peopleList(first: 5) { totalCount nodes { id } } } } } }"""
RANGE = {"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}
DELETE = "mutation($input: DeletePersonInput!) { deletePerson(input: $input) { deleted } }"


async def seed(services, project):
    await services.ingest.record_events(project.id, [
        EventIn("gone", "Billed", {"Revenue": "10"}, T(2024, 1, 4)),
        EventIn("stays", "Billed", {"Revenue": "5"}, T(2024, 1, 9)),
    ])


async def ask(http, key, query, variables):
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    return response.content


async def test_kept_once_every_report_is_a_hit_and_the_same_body(http, services, project, read_client):
    await seed(services, project)
    variables = {"i": {**RANGE, "interval": "MONTH"}}
    first = await read_client(REVENUE, variables)
    assert first["revenueReport"]["cached"] is False
    stored, hits = TOTALS['stored'], TOTALS['hits']
    second = await ask(http, project.read_key, REVENUE, variables)  # engine, from cached reports: kept
    assert TOTALS['stored'] == stored + 1 and TOTALS['hits'] == hits
    third = await ask(http, project.read_key, REVENUE, variables)
    assert TOTALS['hits'] == hits + 1
    assert third == second and b'"cached":true' in third and b'"total":"15"' in third
    # Other variables: another answer.
    other = await read_client(REVENUE, {"i": {**RANGE, "interval": "WEEK"}})
    assert other["revenueReport"]["cached"] is False


async def test_a_deletion_here_and_elsewhere_is_not_answered_from_before(http, services, project, read_client):
    await seed(services, project)
    await services.ingest.record_event(project.id, EventIn("also-gone", "Billed", {"Revenue": "7"}, T(2024, 1, 5)))
    variables = {"i": RANGE}
    for _ in range(3):
        await read_client(REVENUE, variables)
    assert b'"total":"22"' in await ask(http, project.read_key, REVENUE, variables)
    # Through this server (the process that serves the answers): at once.
    assert (await read_client(DELETE, {"input": {"identity": "gone"}}))["deletePerson"]["deleted"]
    after = await read_client(REVENUE, variables)
    assert after["revenueReport"]["total"] == "12" and after["revenueReport"]["cached"] is False
    for _ in range(2):
        await read_client(REVENUE, variables)
    # Through another Services (as another process would): once its NOTIFY is heard.
    assert (await services.ingest.delete_person(project.id, identity="also-gone")).deleted
    deadline = time.monotonic() + 10
    while (await read_client(REVENUE, variables))["revenueReport"]["total"] != "5":
        assert time.monotonic() < deadline, "the deletion was never heard"
        await asyncio.sleep(0.01)


async def test_a_query_reading_people_live_is_never_kept(http, services, project, read_client):
    await services.ingest.record_events(project.id, [EventIn("p1", "Bought", {}, T(2024, 1, 2))])
    variables = {"i": {**RANGE, "series": [{"event": "Bought", "math": "PEOPLE"}]}}
    stored = TOTALS['stored']
    for _ in range(3):
        await read_client(TRENDS_PEOPLE, variables)
    assert TOTALS['stored'] == stored


def test_never_kept_past_the_earliest_report_entry():
    answers = ReportAnswers()
    context = SimpleNamespace(services=SimpleNamespace(settings=SimpleNamespace(report_ttl=10),
                                                       reports=SimpleNamespace(observe_hits=lambda kinds: None)),
                              live_reads=False, cost=None, validated=False)
    result = ExecutionResult(data={"x": 1}, errors=None)
    now = datetime.now(timezone.utc)
    fresh, old = Seen("cohort", True, now), Seen("funnel", True, now - timedelta(seconds=9.9))
    answers.put(("k",), context, result, [fresh, old])
    assert answers.get(("k",), context) is not None
    time.sleep(0.15)
    assert answers.get(("k",), context) is None
    answers.put(("k",), context, result, [fresh, Seen("funnel", False, now)])  # a miss: not kept
    assert answers.bytes == 0
    answers.put(("k",), context, ExecutionResult(data=None, errors=["e"]), [fresh])  # errors: not kept
    assert answers.get(("k",), context) is None


def test_bounded_in_bytes():
    answers = ReportAnswers(max_bytes=1000)
    context = SimpleNamespace(services=SimpleNamespace(settings=SimpleNamespace(report_ttl=60),
                                                       reports=SimpleNamespace(observe_hits=lambda kinds: None)),
                              live_reads=False, cost=None, validated=False)
    seen = [Seen("cohort", True, datetime.now(timezone.utc))]
    answers.put(("big",), context, ExecutionResult(data={"x": "y" * 200}, errors=None), seen)
    assert answers.get(("big",), context) is None  # over a tenth of the bound
    for n in range(20):
        answers.put((n,), context, ExecutionResult(data={"x": "y" * 80}, errors=None), seen)
    assert answers.bytes <= 1000 and answers.get((19,), context) is not None and answers.get((0,), context) is None


async def test_kept_per_app_so_each_checks_under_its_own_settings(http, services, project, read_client,
                                                                  database_url):
    """Another app in the same process (a server with a lower maximum cost)
    does not answer from the first one's kept answers."""
    import httpx

    from app.config import Settings
    from app.server import create_app
    from tests.support.server import serving

    await seed(services, project)
    variables = {"i": RANGE}
    for _ in range(3):
        await read_client(REVENUE, variables)
    async with serving(create_app(Settings(report_ttl=60, max_query_cost=10), dsn=database_url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as other:
            body = await ask(other, project.read_key, REVENUE, variables)
    assert b"QUERY_TOO_COSTLY" in body and b'"data":null' in body

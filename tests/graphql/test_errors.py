"""Unexpected errors are masked: "Unexpected error." and a request id that
finds the full trace in the logs, never a stack trace in the response."""
from __future__ import annotations

import logging

from app.ingest.validation import EventIn


async def test_unexpected_error_is_masked_with_a_request_id(services, project, read_client, caplog):
    await services.ingest.set_properties(project.id, "broken", {"Plan": "pro"})
    caplog.set_level(logging.ERROR, logger="whodid.graphql")
    # A real fault: the table a resolver reads is gone for a moment.
    async with services.pool.acquire() as conn:
        await conn.execute("ALTER TABLE property_changes RENAME TO property_changes_gone")
    try:
        response = await read_client.raw('{ person(identity: "broken") { propertyHistory(key: "Plan") { value } } }')
    finally:
        async with services.pool.acquire() as conn:
            await conn.execute("ALTER TABLE property_changes_gone RENAME TO property_changes")
    body = response.json()
    error = body["errors"][0]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert request_id == response.headers["x-request-id"]
    assert "property_changes" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "property_changes" in str(logged[0].exc_info[1])


async def test_event_reads_still_work_after_the_fault(services, project, read_client):
    await services.ingest.record_event(project.id, EventIn("ok", "Fine"))
    assert (await read_client("{ eventNames }"))["eventNames"] == ["Fine"]


async def test_every_error_has_a_code_syntax_errors_too(http, project):
    headers = {"Authorization": f"Bearer {project.read_key}"}
    syntax = (await http.post("/graphql", json={"query": "{ people("}, headers=headers)).json()
    unknown = (await http.post("/graphql", json={"query": "{ nope }"}, headers=headers)).json()
    for body, code in ((syntax, "GRAPHQL_PARSE_FAILED"), (unknown, "BAD_USER_INPUT")):
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    assert syntax["errors"][0]["message"].startswith("Syntax Error")
    # Over GET too (persisted queries, dashboards).
    got = (await http.get("/graphql", params={"query": "{ people("}, headers=headers)).json()
    assert [e["extensions"]["code"] for e in got["errors"]] == ["GRAPHQL_PARSE_FAILED"], got

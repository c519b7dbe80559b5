"""What the log says about errors: a client error (its input, its key) is one
INFO line with its code and request id and no traceback; a server error keeps
its traceback, found by the request id the client got. Strawberry's own
logger (strawberry.execution: every error at ERROR with a traceback) is quiet.
And a body that is not JSON is answered in the JSON errors shape."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="whodid.graphql")
    caplog.set_level(logging.DEBUG, logger="strawberry.execution")
    return caplog


def graphql_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in ("whodid.graphql", "strawberry.execution")]


@pytest.mark.parametrize("query, key, code", [
    ("{ people(", "read", "GRAPHQL_PARSE_FAILED"),  # syntax (Apollo's code)
    ("{ nope }", "read", "BAD_USER_INPUT"),  # validation
    ('{ person(identity: "x") { id } }', "write", "FORBIDDEN"),  # the public key may not read people
    ('{ events(first: 100000) { nodes { id } } }', "read", "BAD_USER_INPUT"),  # a resolver's refusal
])
async def test_a_client_error_is_one_info_line(http, project, logs, query, key, code):
    token = project.read_key if key == "read" else project.write_key
    response = await http.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code, body
    request_id = response.headers["x-request-id"]
    records = graphql_records(logs)
    assert len(records) == 1, [(r.name, r.levelname, r.getMessage()) for r in records]
    [record] = records
    assert (record.name, record.levelno, record.exc_info) == ("whodid.graphql", logging.INFO, None)
    assert record.getMessage().startswith(f"{code} request_id={request_id} ")
    assert "\n" not in record.getMessage()


async def test_a_server_error_keeps_its_traceback_and_request_id(services, project, read_client, logs):
    await services.ingest.set_properties(project.id, "broken", {"Plan": "pro"})
    async with services.pool.acquire() as conn:
        await conn.execute("ALTER TABLE property_changes RENAME TO property_changes_gone_for_logs")
    try:
        response = await read_client.raw('{ person(identity: "broken") { propertyHistory(key: "Plan") { value } } }')
    finally:
        async with services.pool.acquire() as conn:
            await conn.execute("ALTER TABLE property_changes_gone_for_logs RENAME TO property_changes")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    records = graphql_records(logs)
    assert [r.name for r in records] == ["whodid.graphql"], [(r.name, r.getMessage()) for r in records]
    assert records[0].levelno == logging.ERROR and request_id in records[0].getMessage()
    assert records[0].exc_info is not None and "property_changes" in str(records[0].exc_info[1])


@pytest.mark.parametrize("body, content_type", [
    (b"not json", "application/json"),
    (b'{"query": ', "application/json"),
    (b"\xff\xfe", "application/json"),
    (b"42", "application/json"),
])
async def test_a_body_that_is_not_json_gets_the_json_error_shape(http, project, body, content_type):
    response = await http.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {project.read_key}", "Content-Type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert error["message"]

"""Keys and tenancy (DESIGN.md §3): 401 without a valid key, FORBIDDEN for a
write key on reads, and no project ever sees another project's data."""
from __future__ import annotations

import pytest

from app.ingest.validation import EventIn
from tests.support.server import GraphQLClient

READS = {
    "person": '{ person(identity: "victim") { id } }',
    "people": "{ people { totalCount } }",
    "events": "{ events { nodes { id } } }",
    "eventNames": "{ eventNames }",
}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 5000])
async def test_missing_or_unknown_key_is_401(http, header):
    headers = {"Authorization": header} if header is not None else {}
    response = await http.post("/graphql", json={"query": "{ eventNames }"}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "victim" not in response.text


@pytest.mark.parametrize("name", sorted(READS))
async def test_write_key_cannot_read(write_client, name):
    errors = await write_client.errors(READS[name])
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_write_key_sees_only_id_and_identified_of_a_person(write_client, services, project):
    await services.ingest.set_properties(project.id, "victim@x", {"Secret": "s3"})
    data = await write_client('mutation { identify(input: {anonymousId: "mine", userId: "victim@x"}) { person { id identified } } }')
    assert data["identify"]["person"]["identified"] is True
    errors = await write_client.errors('mutation { setProperties(input: {identity: "victim@x", properties: {a: 1}}) { person { properties } } }')
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert "s3" not in str(errors)


async def test_projects_are_isolated(http, services, project, other_project):
    await services.ingest.record_event(project.id, EventIn("victim", "Secret Event", {"k": "v"}))
    await services.ingest.set_properties(project.id, "victim", {"Plan": "gold"})
    other = GraphQLClient(http, other_project.read_key)
    assert (await other(READS["person"]))["person"] is None
    assert (await other(READS["people"]))["people"]["totalCount"] == 0
    assert (await other(READS["events"]))["events"]["nodes"] == []
    assert (await other(READS["eventNames"]))["eventNames"] == []
    # the same identity in the other project is another person entirely
    await services.ingest.record_event(other_project.id, EventIn("victim", "Mine"))
    mine = (await other('{ person(identity: "victim") { id properties events { nodes { name } } } }'))["person"]
    theirs = (await GraphQLClient(http, project.read_key)('{ person(identity: "victim") { id } }'))["person"]
    assert mine["id"] != theirs["id"]
    assert mine["properties"] == {} and [e["name"] for e in mine["events"]["nodes"]] == ["Mine"]


async def test_person_id_of_another_project_is_not_found(http, services, project, other_project):
    recorded = await services.ingest.record_event(project.id, EventIn("victim", "E"))
    other = GraphQLClient(http, other_project.read_key)
    found = await other("query($id: ID!) { person(id: $id) { id } }", {"id": str(recorded.event.person_id)})
    assert found["person"] is None


async def test_graphiql_is_served_without_a_key(http):
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


async def test_oversized_body_is_refused(http, project):
    response = await http.post(
        "/graphql", content=b'{"query": "' + b" " * (1024 * 1024 + 10) + b'{ eventNames }"}',
        headers={"Authorization": f"Bearer {project.read_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_limits_depth_and_aliases(read_client):
    aliases = "{ " + " ".join(f"a{i}: eventNames" for i in range(31)) + " }"
    errors = await read_client.errors(aliases)
    assert "aliases" in errors[0]["message"].lower()
    deep = "{ people { nodes { events { nodes { id } } " + "}" * 3
    assert (await read_client(deep))  # depth 5 is fine


async def test_depth_limit(read_client):
    # Our schema has no cycles deeper than the limit, so nest unknown fields:
    # the depth rule still measures the document and must refuse it.
    too_deep = "{ " + "people { nodes { " * 7 + "id" + " } }" * 7 + " }"
    errors = await read_client.errors(too_deep)
    assert any("exceeds maximum operation depth" in e["message"] for e in errors)


async def test_validation_is_cached_across_requests(read_client):
    """The limit rules are the same classes on every request, so the
    validation cache can hit (a fresh rule per request would always miss)."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(1024)
    query = "{ eventNames(first: 3) }"
    await read_client(query)
    hits = cache.cache_info().hits
    await read_client(query)
    assert cache.cache_info().hits == hits + 1

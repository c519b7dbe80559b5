"""Automatic persisted queries (Apollo's protocol) and GraphQL over GET, against
the real server: every rule of app/graphql/persisted.py with real requests."""
from __future__ import annotations

import hashlib
import json
import os
import secrets

import httpx
import pytest
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from app.storage.persisted_queries import PersistedQueryStore

REDIS_URL = os.environ.get("WHODID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
APOLLO_ACCEPT = "*/*"  # what Apollo Client's fetch sends


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unique(query: str) -> str:
    """A document text no other test (or earlier run in this process) used."""
    return f"# {secrets.token_hex(8)}\n{query}"


def persisted(digest: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def auth(project) -> dict:
    return {"Authorization": f"Bearer {project.read_key}", "Accept": APOLLO_ACCEPT}


async def get(http, project, digest: str, variables: dict | None = None, **extra):
    params = {"extensions": json.dumps(persisted(digest)), **extra}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return await http.get("/graphql", params=params, headers=auth(project))


async def register(http, project, query: str, variables: dict | None = None):
    return await http.post("/graphql", headers=auth(project), json={
        "query": query, "variables": variables or {}, "extensions": persisted(sha(query))})


async def test_unknown_hash_is_persisted_query_not_found_as_apollo_server_answers(http, project):
    for response in (
        await http.post("/graphql", headers=auth(project),
                        json={"extensions": persisted(sha(unique("{ eventNames }")))}),
        await get(http, project, sha(unique("{ eventNames }"))),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")  # never GraphiQL's HTML
        assert response.headers["cache-control"] == "private, no-cache, must-revalidate"
        body = response.json()
        assert body["errors"] == [{"message": "PersistedQueryNotFound",
                                   "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]


async def test_query_with_its_hash_registers_then_the_hash_alone_runs_it_over_get(http, project):
    query = unique("query Names { eventNames }")
    first = await register(http, project, query)
    assert first.status_code == 200 and first.json()["data"] == {"eventNames": []}
    again = await get(http, project, sha(query))
    assert again.status_code == 200
    body = again.json()
    assert body["data"] == {"eventNames": []} and "errors" not in body
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    # Not a report: an HTTP cache must revalidate it; the key decides what one may see.
    assert again.headers["cache-control"] == "private, no-cache, must-revalidate"
    assert "Authorization" in again.headers["vary"]
    # The hash in upper case is the same hash.
    assert (await get(http, project, sha(query).upper())).json()["data"] == {"eventNames": []}


async def test_a_report_query_over_get_may_be_cached_privately_for_a_short_while(http, project):
    query = unique("""query($from: DateTime!, $to: DateTime!) {
      revenueReport(input: {from: $from, to: $to}) { total payingPeople series { start total } } }""")
    variables = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    assert not (await register(http, project, query, variables)).json().get("errors")
    response = await get(http, project, sha(query), variables)
    assert response.status_code == 200 and not response.json().get("errors")
    assert response.json()["data"]["revenueReport"]["total"] == "0"
    assert response.headers["cache-control"] == "private, max-age=60"  # the report cache's TTL (60 s)
    assert "Authorization" in response.headers["vary"]
    # The same query over POST: no caching header (HTTP caches do not keep POST answers).
    posted = await http.post("/graphql", headers=auth(project), json={"query": query, "variables": variables})
    assert "cache-control" not in posted.headers


async def test_plain_get_with_query_in_the_query_string_answers_json(http, project):
    response = await http.get("/graphql", params={"query": "{ eventNames }"}, headers=auth(project))
    assert response.status_code == 200 and response.json()["data"] == {"eventNames": []}
    assert response.headers["cache-control"] == "private, no-cache, must-revalidate"


async def test_a_wrong_hash_is_refused_and_registers_nothing(http, project):
    query = unique("{ eventNames }")
    wrong = sha(query + " ")
    response = await http.post("/graphql", headers=auth(project),
                               json={"query": query, "extensions": persisted(wrong)})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"message": "provided sha does not match query",
                                          "extensions": {"code": "BAD_USER_INPUT"}}]
    for digest in (wrong, sha(query)):
        assert (await get(http, project, digest)).json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_unsupported_version_and_malformed_hash_are_refused(http, project):
    for extension in ({"version": 2, "sha256Hash": sha("x")}, {"version": 1, "sha256Hash": "abc"}, {"version": 1}):
        response = await http.post("/graphql", headers=auth(project),
                                   json={"query": "{ eventNames }", "extensions": {"persistedQuery": extension}})
        assert response.status_code == 400, extension
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_invalid_document_is_not_registered(http, project):
    query = unique("{ nope }")
    body = (await register(http, project, query)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await get(http, project, sha(query))).json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_a_too_costly_document_is_not_registered(http, project):
    query = unique("{ people(first: 1000) { nodes { events(first: 1000) { nodes { name } } } } }")
    body = (await register(http, project, query)).json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert (await get(http, project, sha(query))).json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_a_persisted_mutation_is_refused_over_get_and_not_run(http, project, services):
    mutation = unique('mutation { recordEvent(input: {identity: "apq-get", name: "Over GET"}) { duplicate } }')
    write = {"Authorization": f"Bearer {project.write_key}", "Accept": APOLLO_ACCEPT}
    registered = await http.post("/graphql", headers=write,
                                 json={"query": mutation, "extensions": persisted(sha(mutation))})
    assert registered.json()["data"] == {"recordEvent": {"duplicate": False}}
    over_get = await http.get("/graphql", params={"extensions": json.dumps(persisted(sha(mutation)))}, headers=write)
    assert over_get.status_code == 400
    assert "cache-control" not in over_get.headers or "max-age" not in over_get.headers["cache-control"]
    names = (await http.post("/graphql", headers=auth(project), json={
        "query": '{ person(identity: "apq-get") { events { nodes { name } } } }'})).json()["data"]
    assert [e["name"] for e in names["person"]["events"]["nodes"]] == ["Over GET"]  # once, from the POST


async def test_get_with_extensions_needs_a_key(http):
    response = await http.get("/graphql", params={"extensions": json.dumps(persisted(sha("{ eventNames }")))},
                              headers={"Accept": APOLLO_ACCEPT})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphiql_only_for_a_browser_asking_for_html_without_an_operation(http, project):
    browser = await http.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 200 and browser.headers["content-type"].startswith("text/html")
    for params, accept in (({"query": "{ eventNames }"}, "text/html"),
                           ({"extensions": json.dumps(persisted(sha("{ x }")))}, "text/html,*/*")):
        response = await http.get("/graphql", params=params, headers={**auth(project), "Accept": accept})
        assert response.headers["content-type"].startswith("application/json"), (params, accept, response.text[:80])
    # Not a browser and no operation: refused (400, no query), not GraphiQL.
    bare = await http.get("/graphql", headers={"Accept": "*/*"})
    assert bare.status_code == 400 and not bare.headers["content-type"].startswith("text/html")


async def test_a_known_hash_is_parsed_and_validated_once(http, project):
    """The stored text is the registered text: the hashed request hits the
    parser and validation caches instead of paying for them again."""
    query = unique("{ eventNames people(first: 5) { totalCount } }")
    parses, validations = _get_parse_cache(1024), _get_validate_cache(1024)
    assert not (await register(http, project, query)).json().get("errors")
    parsed, validated = parses.cache_info(), validations.cache_info()
    for _ in range(3):
        assert not (await get(http, project, sha(query))).json().get("errors")
    assert parses.cache_info().misses == parsed.misses and parses.cache_info().hits >= parsed.hits + 3
    assert validations.cache_info().misses == validated.misses
    assert validations.cache_info().hits >= validated.hits + 3


# ---------------------------------------------------------------- the store


async def test_memory_store_is_a_bounded_lru():
    store = PersistedQueryStore(max_entries=2)
    for text in ("{ a }", "{ b }"):
        await store.set(sha(text), text)
    assert await store.get(sha("{ a }")) == "{ a }"  # a is now the most recent
    await store.set(sha("{ c }"), "{ c }")
    assert await store.get(sha("{ b }")) is None
    assert await store.get(sha("{ a }")) == "{ a }" and await store.get(sha("{ c }")) == "{ c }"
    huge = "{ a }" + " " * (64 * 1024)
    await store.set(sha(huge), huge)
    assert await store.get(sha(huge)) is None  # too large to keep: run, never stored


@pytest.fixture
async def redis_stores():
    namespace = f"whodid-test:apq:{secrets.token_hex(6)}"
    stores = [PersistedQueryStore(redis_url=REDIS_URL, namespace=namespace, ttl=60) for _ in range(2)]
    yield stores
    await stores[0].clear()
    for store in stores:
        await store.close()


async def test_with_redis_the_store_is_shared_between_workers(redis_stores):
    one, two = redis_stores
    query = unique("{ eventNames }")
    assert await two.get(sha(query)) is None
    await one.set(sha(query), query)
    assert await two.get(sha(query)) == query  # another process finds it
    assert sha(query) in two.local  # and keeps it in its memory for the next time


async def test_a_redis_that_fails_is_bypassed():
    store = PersistedQueryStore(redis_url="redis://127.0.0.1:1/0", namespace="whodid-test:apq:down")
    query = unique("{ eventNames }")
    await store.set(sha(query), query)  # logged, kept in memory
    assert await store.get(sha(query)) == query
    assert await store.get(sha("{ other }")) is None and store.errors >= 2
    await store.close()


async def test_two_workers_sharing_redis_share_the_documents(database_url, project):
    """Two apps (two workers) with the same REDIS_URL: a query registered
    through one is run by hash through the other."""
    from app.config import Settings
    from app.server import create_app
    from tests.support.server import serving

    settings = Settings(redis_url=REDIS_URL, report_ttl=60)
    query = unique("query Shared { eventNames }")
    async with serving(create_app(settings, dsn=database_url)) as one, \
            serving(create_app(settings, dsn=database_url)) as two:
        async with httpx.AsyncClient(timeout=30) as client:
            unknown = await client.get(f"{two}/graphql", headers=auth(project),
                                       params={"extensions": json.dumps(persisted(sha(query)))})
            assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
            registered = await client.post(f"{one}/graphql", headers=auth(project), json={
                "query": query, "extensions": persisted(sha(query))})
            assert registered.json()["data"] == {"eventNames": []}
            shared = await client.get(f"{two}/graphql", headers=auth(project),
                                      params={"extensions": json.dumps(persisted(sha(query)))})
            assert shared.status_code == 200 and shared.json()["data"] == {"eventNames": []}
    cleaner = PersistedQueryStore(redis_url=REDIS_URL)
    await cleaner.shared.delete(sha(query))  # leave nothing behind in the shared Redis
    await cleaner.close()

"""One error model: a domain error (or a driver error, as storage names it)
rendered for HTTP JSON, GraphQL extensions and WebSocket closes."""
from __future__ import annotations

import asyncpg

from app import problems
from app.errors import UNAVAILABLE_MESSAGE, BadInput, Forbidden, Unauthenticated, Unavailable, UnstorableText


def test_driver_errors_become_domain_errors_at_storages_edge():
    lost = problems.problem(asyncpg.ConnectionDoesNotExistError("gone"))
    assert isinstance(lost, Unavailable) and lost.message == UNAVAILABLE_MESSAGE
    assert (lost.status, lost.retry_after) == (503, 5)
    nul = problems.problem(asyncpg.CharacterNotInRepertoireError("NUL"))
    assert isinstance(nul, UnstorableText) and (nul.code, nul.status, nul.field) == ("BAD_USER_INPUT", 400, None)
    assert problems.problem(KeyError("bug")) is None


def test_each_transport_gets_its_shape():
    bad = BadInput("input.name", "the event name is missing")
    assert problems.graphql_extensions(bad) == {"code": "BAD_USER_INPUT", "field": "input.name"}
    assert problems.http_headers(bad) == {}
    away = Unavailable("write failed")
    assert problems.message(away) == UNAVAILABLE_MESSAGE  # HTTP says it one way
    assert problems.http_headers(away) == {"Retry-After": "5"}
    assert problems.ws_close(away) == (1013, "database unavailable; retry later")
    nobody = Unauthenticated("unknown API key")
    assert problems.http_headers(nobody, challenge=True) == {"WWW-Authenticate": 'Bearer realm="whodid"'}
    assert problems.graphql_http_body(nobody) == {
        "errors": [{"message": "unknown API key", "extensions": {"code": "UNAUTHENTICATED"}}]}
    assert problems.plain_body(Forbidden("read key needed")) == {"error": "read key needed", "code": "FORBIDDEN"}
    assert problems.ws_close(Forbidden("x")) is None

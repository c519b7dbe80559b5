"""Automatic persisted queries, Apollo's protocol (docs/api.md).

A request may carry `extensions.persistedQuery = {version: 1, sha256Hash}`:

- with the hash only: the stored document is run; an unknown hash is answered
  with the error `PersistedQueryNotFound` (`extensions.code`
  PERSISTED_QUERY_NOT_FOUND, status 200, `Cache-Control: private, no-cache,
  must-revalidate`), as Apollo Server answers it, and Apollo's link then sends
  the query with its hash;
- with the query and its hash: the hash is checked (a mismatch is refused with
  400, `provided sha does not match query`) and the query runs; once it has
  passed validation it is stored under its hash.

The stored text is exactly the text that was registered, so the parser and
validation caches (keyed by the text) hit for a known hash as for the text.

The store (app/storage/persisted_queries.py): an LRU in each process's memory (WHODID_APQ_MAX_ENTRIES documents,
each at most MAX_DOCUMENT_BYTES), and, when REDIS_URL is set, Redis behind it,
shared by every worker and host (aiocache, namespace `whodid:apq:v1`, each entry
living WHODID_APQ_TTL seconds). A Redis that fails is logged and bypassed:
the hash is then unknown and the client sends the query again.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from ..storage.persisted_queries import PersistedQueryStore, sha256

_HASH = re.compile(r"^[0-9a-f]{64}$")

NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
NO_CACHE = "private, no-cache, must-revalidate"
# The longest a GET answer of a report query may be kept by an HTTP cache (seconds).
MAX_AGE = 60


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str, status: int):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Persisted:
    """What a request asked of the store: the document to run, and the hash to
    register it under once it is valid (None: already known)."""

    query: str
    register: str | None


def persisted_query(extensions: object) -> dict | None:
    """`extensions.persistedQuery`, when the request carries it."""
    if not isinstance(extensions, dict):
        return None
    value = extensions.get("persistedQuery")
    return value if value is not None else None


async def resolve(store: PersistedQueryStore, query: object, extension: object) -> Persisted:
    """The document a request with `extensions.persistedQuery` runs, or a
    PersistedQueryError to answer instead."""
    if not isinstance(extension, dict) or extension.get("version") != 1:
        raise PersistedQueryError("Unsupported persisted query version", "BAD_USER_INPUT", 400)
    digest = extension.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.match(digest.lower()):
        raise PersistedQueryError("persistedQuery.sha256Hash must be 64 hexadecimal digits",
                                  "BAD_USER_INPUT", 400)
    digest = digest.lower()
    if isinstance(query, str):
        if sha256(query) != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_USER_INPUT", 400)
        # Registered again (into Redis too) when this process does not know it yet.
        return Persisted(query, None if store.local.get(digest) == query else digest)
    stored = await store.get(digest)
    if stored is None:
        raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE, 200)
    return Persisted(stored, None)


# ---------------------------------------------------------------- over HTTP (the view)


def carries_operation(params) -> bool:
    """Whether a GET's query string carries an operation: then it is answered
    with JSON, never with GraphiQL."""
    return params.get("query") is not None or params.get("extensions") is not None


def http_cache_headers(method: str, sub_response, result, context) -> None:
    """Cache-Control for a GET (an HTTP cache may keep a read): a report query
    answered without errors may be kept privately as long as the report cache
    keeps it (at most a minute); any other GET is revalidated every time. POST
    answers get no header (HTTP caches do not keep them)."""
    if method != "GET":
        return
    headers = sub_response.headers
    headers["vary"] = "Authorization"
    cost = getattr(context, "cost", None)
    ttl = min(int(context.services.settings.report_ttl), MAX_AGE)
    if not getattr(result, "errors", None) and cost is not None and cost.reports and ttl > 0:
        headers["cache-control"] = f"private, max-age={ttl}"
    else:
        headers["cache-control"] = NO_CACHE


async def run_persisted(method: str, sub_response, context, request_data, execute):
    """Runs `execute(request_data)` with the document the persisted-query
    extension names (or answers its error), registers a new valid document,
    and sets the caching headers of a GET."""
    extension = persisted_query(request_data.extensions)
    persisted = None
    if extension is not None:
        store = context.services.persisted
        try:
            persisted = await resolve(store, request_data.query, extension)
        except PersistedQueryError as exc:
            sub_response.status_code = exc.status
            sub_response.headers["cache-control"] = NO_CACHE
            return ExecutionResult(data=None, errors=[GraphQLError(exc.message, extensions={"code": exc.code})])
        request_data = replace(request_data, query=persisted.query)
    result = await execute(request_data)
    if persisted is not None and persisted.register and context.validated:
        await context.services.persisted.set(persisted.register, persisted.query)
    http_cache_headers(method, sub_response, result, context)
    return result


class MarkValidated(SchemaExtension):
    """Notes on the context that the document passed validation (and the cost
    check, listed before it): only such a document is stored under its hash."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors == [] and context.context is not None:
            context.context.validated = True
        yield

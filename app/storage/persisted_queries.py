"""The store of automatic persisted queries (app/graphql/persisted.py runs the
protocol): GraphQL documents by the SHA-256 of their text.

An LRU in each process's memory (`max_entries` documents, each at most
MAX_DOCUMENT_BYTES), and, when REDIS_URL is set, Redis behind it, shared by
every worker and host (namespace `whodid:apq:v1`, each entry living `ttl`
seconds). A Redis that fails is logged and bypassed: the hash is then unknown
and the client sends the query again. Built and closed by app/services.py."""
from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

from .redis_cache import redis_cache

# The logger keeps the name it had when the store lived in app/graphql/persisted.py.
log = logging.getLogger("whodid.graphql.persisted")

NAMESPACE = "whodid:apq:v1"
# Larger documents are run but not stored (a bound on the memory the store takes).
MAX_DOCUMENT_BYTES = 64 * 1024


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PersistedQueryStore:
    def __init__(self, *, redis_url: str | None = None, max_entries: int = 1000, ttl: int = 86_400,
                 namespace: str = NAMESPACE):
        self.namespace = namespace
        self.max_entries = max(1, max_entries)
        self.ttl = ttl
        self.local: OrderedDict[str, str] = OrderedDict()
        self.shared = redis_cache(redis_url, namespace=namespace) if redis_url else None
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def _remember(self, digest: str, query: str) -> None:
        self.local[digest] = query
        self.local.move_to_end(digest)
        while len(self.local) > self.max_entries:
            self.local.popitem(last=False)

    async def get(self, digest: str) -> str | None:
        query = self.local.get(digest)
        if query is not None:
            self.local.move_to_end(digest)
            self.hits += 1
            return query
        if self.shared is not None:
            try:
                query = await self.shared.get(digest)
            except Exception as exc:  # Redis down: the client sends the query again
                self.errors += 1
                log.warning("persisted query read failed hash=%s: %r", digest, exc)
                query = None
            if isinstance(query, str) and sha256(query) == digest:
                self._remember(digest, query)
                self.hits += 1
                return query
        self.misses += 1
        return None

    async def set(self, digest: str, query: str) -> None:
        if len(query.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            return
        self._remember(digest, query)
        if self.shared is not None:
            try:
                await self.shared.set(digest, query, ttl=self.ttl if self.ttl > 0 else None)
            except Exception as exc:
                self.errors += 1
                log.warning("persisted query write failed hash=%s: %r", digest, exc)

    async def clear(self) -> None:
        self.local.clear()
        if self.shared is not None:
            await self.shared.clear(namespace=self.namespace)

    async def close(self) -> None:
        if self.shared is not None:
            try:
                await self.shared.client.aclose()
            except Exception as exc:  # closing never fails a shutdown
                log.warning("persisted query store close failed: %r", exc)

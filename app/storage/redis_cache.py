"""Redis, when REDIS_URL is set: an aiocache RedisCache on one namespace, used
by the report cache (app/reports/cache.py) and the persisted-query store
(app/storage/persisted_queries.py). Values are pickled."""
from __future__ import annotations

import urllib.parse

from aiocache.serializers import PickleSerializer


def redis_cache(url: str, *, namespace: str, timeout: float = 5.0):
    """An aiocache RedisCache for redis:// or rediss:// URLs (host, port, /db, password)."""
    from aiocache import RedisCache

    class _RedisCache(RedisCache):
        async def _set(self, key, value, ttl=None, _cas_token=None, _conn=None):
            # SET PX instead of the SETEX/PSETEX that redis-py deprecates.
            if _cas_token is None and ttl:
                return await self.client.set(key, value, px=max(1, int(float(ttl) * 1000)))
            return await super()._set(key, value, ttl=ttl, _cas_token=_cas_token, _conn=_conn)

    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ValueError(f"REDIS_URL must be redis:// or rediss://, not {parsed.scheme}://")
    db = parsed.path.lstrip("/").split("/")[0] or "0"
    return _RedisCache(
        serializer=PickleSerializer(),
        namespace=namespace,
        timeout=timeout,
        endpoint=parsed.hostname or "127.0.0.1",
        port=parsed.port or 6379,
        db=int(db),
        password=urllib.parse.unquote(parsed.password) if parsed.password else None,
        ssl=parsed.scheme == "rediss",
    )

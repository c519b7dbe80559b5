"""Projects and API keys: a public write key and a secret read key per project,
stored as SHA-256 hashes (the keys are 192-bit random tokens, so a slow hash
adds nothing)."""
from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from enum import Enum

from .errors import BadInput, Forbidden, NotFound, Unauthenticated
from .storage.listener import Listener
from .storage.projects import KEYS_CHANNEL, ProjectRepository


class Role(str, Enum):
    WRITE = "write"
    READ = "read"


@dataclass(frozen=True)
class Principal:
    """Who is calling: one project, with the role of the key used."""

    project_id: uuid.UUID
    project_name: str
    role: Role

    def require_read(self) -> None:
        check_role(self, Role.READ)


READ_KEY_NEEDED = "this operation needs the project's read key; a write key was used"


def check_role(principal: Principal, needs: Role | None, refusal: str = READ_KEY_NEEDED) -> Principal:
    """`principal` when its key has the role `needs` (None: either key); else
    Forbidden with `refusal`, the transport's words for what needed the key."""
    if needs is not None and principal.role is not needs:
        raise Forbidden(refusal)
    return principal


@dataclass(frozen=True)
class ProjectKeys:
    id: uuid.UUID
    name: str
    write_key: str
    read_key: str

    def as_json(self) -> dict:
        return {"id": str(self.id), "name": self.name, "writeKey": self.write_key, "readKey": self.read_key}


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_keys() -> tuple[str, str]:
    return "wk_" + secrets.token_urlsafe(24), "rk_" + secrets.token_urlsafe(24)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyCache:
    """The principals of recently used keys, per process, so that a request
    does not cost a database query to authenticate.

    It serves only while its LISTEN connection is up: every change of a
    project's keys NOTIFYs (in the statement that makes it, so on commit), and
    every notification empties the cache in every process at once. While the
    connection is down or reconnecting (a notification may have been missed)
    nothing is served from or put into the cache: every key is checked in the
    database, as without a cache. A lookup that started before a notification
    is not stored (the generation check), so a key read before a rotation
    cannot be cached after it. Unknown keys are never cached. Entries also
    expire after `ttl` seconds, a bound even if a notification were lost."""

    def __init__(self, ttl: float = 60.0, max_entries: int = 10_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self.listening = False
        self.generation = 0
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    def get(self, key_hash: bytes) -> Principal | None:
        if not self.listening:
            return None
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        principal, expires = entry
        if time.monotonic() >= expires:
            del self._entries[key_hash]
            return None
        return principal

    def put(self, key_hash: bytes, principal: Principal, generation: int) -> None:
        if not self.listening or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic() + self.ttl)


class AuthService:
    def __init__(self, projects: ProjectRepository):
        self.projects = projects
        self.cache: KeyCache | None = None

    def start_key_cache(self, listener: Listener, *, ttl: float = 60.0) -> None:
        """Cache principals in this process (KeyCache), emptied by every
        notification on the keys channel and whenever the listener starts or
        stops listening; nothing is cached while it does not. Call before the
        listener starts."""
        if self.cache is not None:
            return
        cache = KeyCache(ttl=ttl)

        def on_state(listening: bool) -> None:
            cache.listening = listening
            cache.invalidate()

        listener.listen(KEYS_CHANNEL, lambda _payload: cache.invalidate(), on_state)
        self.cache = cache

    async def close_key_cache(self) -> None:
        self.cache = None

    async def create_project(self, name: str) -> ProjectKeys:
        name = name.strip()
        if not name or len(name) > 100:
            raise BadInput("name", "a project name is 1-100 characters")
        write_key, read_key = new_keys()
        row = await self.projects.create(name, hash_key(write_key), hash_key(read_key))
        if row is None:
            raise BadInput("name", f"a project named {name!r} already exists")
        return ProjectKeys(row.id, row.name, write_key, read_key)

    async def rotate_keys(self, name: str) -> ProjectKeys:
        write_key, read_key = new_keys()
        row = await self.projects.set_keys(name, hash_key(write_key), hash_key(read_key))
        if row is None:
            raise NotFound(f"no project named {name!r}")
        if self.cache is not None:  # this process at once; the others by NOTIFY
            self.cache.invalidate()
        return ProjectKeys(row.id, row.name, write_key, read_key)

    async def authorize(self, key: str | None, needs: Role | None = None, refusal: str = READ_KEY_NEEDED) -> Principal:
        """The one way every transport checks a key: who it belongs to
        (Unauthenticated when missing or unknown; Unavailable when the database
        cannot say) and that its role is `needs` (Forbidden with `refusal`)."""
        return check_role(await self.authenticate(key), needs, refusal)

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise Unauthenticated("missing API key")
        if len(key) > 200:
            raise Unauthenticated("unknown API key")
        key_hash = hash_key(key)
        cache = self.cache
        if cache is not None:
            principal = cache.get(key_hash)
            if principal is not None:
                return principal
            generation = cache.generation
        found = await self.projects.by_key_hash(key_hash)
        if found is None:
            raise Unauthenticated("unknown API key")
        project, role = found
        principal = Principal(project.id, project.name, Role(role))
        if cache is not None:
            cache.put(key_hash, principal, generation)
        return principal

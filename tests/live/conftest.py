"""Fixtures of the live-events tests; their helpers (the WebSocket client,
servers in subprocesses, the in-process server) are in tests/support/live.py."""
from __future__ import annotations

import pytest

from app.config import Settings
from app.server import create_app
from tests.support.live import *  # noqa: F401,F403  (named here too for tests written before tests/support/)
from tests.support.live import InProcessServer, _CaptureState, start_servers
from tests.support.server import serving


@pytest.fixture(scope="session")
async def two_servers(database_url: str):
    """Two independent single-worker servers on two ports, one database."""
    servers = await start_servers(database_url, 2)
    yield [s.url for s in servers]
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
async def live_server(database_url: str):
    capture = _CaptureState(create_app(Settings(live_queue_size=1000), dsn=database_url))
    async with serving(capture) as url:
        yield InProcessServer(url, capture)

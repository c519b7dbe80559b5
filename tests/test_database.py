"""app/database.py: preparing a database and its first project."""
from __future__ import annotations

import asyncio

import asyncpg

from app.config import Settings
from app.database import bootstrap_default_project, prepare_database
from tests.support.database import scratch_database


def test_servers_starting_together_on_an_empty_database_make_one_default_project(admin_url):
    """Several servers starting at once on one empty database (two `whodid
    serve`, container replicas): one creates `default` and prints its keys,
    the others start without error and without keys."""
    with scratch_database(admin_url, "whodid_bootstrap") as url:
        asyncio.run(prepare_database(url, Settings()))

        async def start_together():
            return await asyncio.gather(*(bootstrap_default_project(url) for _ in range(6)))

        results = asyncio.run(start_together())

        async def project_names():
            conn = await asyncpg.connect(url)
            try:
                return [r["name"] for r in await conn.fetch("SELECT name FROM projects")]
            finally:
                await conn.close()

        assert [r.name for r in results if r is not None] == ["default"]
        assert asyncio.run(project_names()) == ["default"]
        assert asyncio.run(bootstrap_default_project(url)) is None  # a later start: nothing to do

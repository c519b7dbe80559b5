"""Where the database is (configured or embedded) and getting it ready:
migrations, then the `default` project on a first start."""
from __future__ import annotations

import logging

from .auth import AuthService, ProjectKeys
from .config import Settings
from .errors import BadInput
from .storage.migrations import migrate
from .storage.pool import connect, create_pool
from .storage.projects import ProjectRepository

log = logging.getLogger("whodid.database")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from .storage.embedded import start_embedded

    return start_embedded(settings.data_dir)


async def prepare_database(url: str, settings: Settings) -> list[str]:
    conn = await connect(url)
    try:
        return await migrate(conn, settings.migrations_dir)
    finally:
        await conn.close()


async def bootstrap_default_project(url: str) -> ProjectKeys | None:
    """On an empty database, create project `default` and return its keys (once).

    Several servers may start on one empty database at the same moment (two
    `whodid serve`, replicas of a container): each sees no project, one
    creates `default` and the others find it taken, which is the same outcome
    as starting later (None), not a failed start."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        projects = ProjectRepository(pool)
        if await projects.count() > 0:
            return None
        try:
            return await AuthService(projects).create_project("default")
        except BadInput:
            return None  # created by a server starting beside this one
    finally:
        await pool.close()

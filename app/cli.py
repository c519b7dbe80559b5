"""The `whodid` command."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
import orjson

from .config import Settings


def _settings() -> Settings:
    return Settings.from_env()


def _url(settings: Settings) -> str:
    from .database import database_url

    url = database_url(settings)
    # Workers started by uvicorn inherit the environment: point them at the same server.
    os.environ["DATABASE_URL"] = url
    return url


def _run(coro):
    return asyncio.run(coro)


@click.group()
def main() -> None:
    """whodid: person-based product analytics on your own PostgreSQL."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
def serve(host: str, port: int, workers: int) -> None:
    """Start the API (GraphQL at /graphql, tracking endpoints, /healthz)."""
    import uvicorn

    from .database import bootstrap_default_project, prepare_database
    from .logs import setup_logging

    settings = _settings()
    setup_logging(settings.log_format)
    url = _url(settings)
    _run(prepare_database(url, settings))
    keys = _run(bootstrap_default_project(url))
    if keys:
        click.echo("Created project 'default'. Its keys are shown only this once:")
        click.echo(f"  write key (public, for tracking): {keys.write_key}")
        click.echo(f"  read key  (secret, for GraphQL):  {keys.read_key}")
    click.echo(f"whodid on http://{host}:{port}/graphql")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker writes its metrics here; /metrics aggregates them.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="whodid-metrics-")
    uvicorn.run(
        "app.server:create_app", factory=True, host=host, port=port, workers=workers,
        log_config=None, access_log=False, timeout_graceful_shutdown=10,
    )


@main.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""
    from .database import prepare_database

    settings = _settings()
    applied = _run(prepare_database(_url(settings), settings))
    click.echo("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


@main.group()
def project() -> None:
    """Projects and their keys."""


async def _with_auth(url: str, action):
    from .auth import AuthService
    from .storage.pool import create_pool
    from .storage.projects import ProjectRepository

    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        return await action(AuthService(ProjectRepository(pool)))
    finally:
        await pool.close()


def _print_keys(keys, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(keys.as_json()).decode())
    else:
        click.echo(f"project {keys.name} ({keys.id})")
        click.echo(f"  write key (public, for tracking): {keys.write_key}")
        click.echo(f"  read key  (secret, for GraphQL):  {keys.read_key}")


@project.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print the keys as JSON")
def project_create(name: str, as_json: bool) -> None:
    """Create a project and print its keys (shown only once)."""
    from .database import prepare_database
    from .errors import WhodidError

    settings = _settings()
    url = _url(settings)
    _run(prepare_database(url, settings))
    try:
        keys = _run(_with_auth(url, lambda auth: auth.create_project(name)))
    except WhodidError as exc:
        raise click.ClickException(exc.message) from None
    _print_keys(keys, as_json)


@project.command("rotate-keys")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print the keys as JSON")
def project_rotate(name: str, as_json: bool) -> None:
    """Replace both keys of a project; the old ones stop working at once."""
    from .errors import WhodidError

    url = _url(_settings())
    try:
        keys = _run(_with_auth(url, lambda auth: auth.rotate_keys(name)))
    except WhodidError as exc:
        raise click.ClickException(exc.message) from None
    _print_keys(keys, as_json)


@main.command("export-schema")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="file (default: stdout)")
def export_schema(output: Path | None) -> None:
    """Print the GraphQL schema (SDL) served by this build."""
    from .graphql.schema import schema

    text = schema.as_str() + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

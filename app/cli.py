"""The `whodid` command."""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import click
import orjson

from .config import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:  # a malformed WHODID_* variable: say which, without a traceback
        raise click.ClickException(str(exc)) from None


def _url(settings: Settings) -> str:
    from .database import database_url

    url = database_url(settings)
    # Workers started by uvicorn inherit the environment: point them at the same server.
    os.environ["DATABASE_URL"] = url
    return url


def _run(coro):
    return asyncio.run(coro)


@contextlib.asynccontextmanager
async def _running_services(url: str, settings: Settings, *, max_size: int = 4, flushers: int = 2):
    """Migrated database, pool and started services for a command that writes
    through the ingest service (import, demo); the writer drains on exit."""
    from .database import prepare_database
    from .services import Services
    from .storage.pool import create_pool

    await prepare_database(url, settings)
    pool = await create_pool(url, min_size=1, max_size=max_size)
    services = Services.build(settings, pool, flushers=flushers)
    try:
        await services.start_areas()
        services.start()
        yield services
        await services.settle()
    finally:
        await services.close()
        await pool.close()


def _announce_new_keys(keys) -> None:
    click.echo(f"Created project {keys.name!r}. Its keys are shown only this once:")
    click.echo(f"  write key (public, for tracking): {keys.write_key}")
    click.echo(f"  read key  (secret, for GraphQL):  {keys.read_key}")


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
    from .listening import serve_workers, spreads_connections
    from .logs import setup_logging

    settings = _settings()
    setup_logging(settings.log_format)
    url = _url(settings)
    _run(prepare_database(url, settings))
    keys = _run(bootstrap_default_project(url))
    if keys:
        _announce_new_keys(keys)
    click.echo(f"whodid on http://{host}:{port}/graphql")
    with contextlib.ExitStack() as stack:
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Every worker writes its metrics here; /metrics aggregates them.
            import tempfile

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="whodid-metrics-")
            )
        options: dict = dict(factory=True, host=host, port=port, workers=workers, log_config=None, access_log=False,
                       timeout_graceful_shutdown=10)
        if workers > 1 and spreads_connections(port):
            serve_workers(uvicorn.Config("app.server:create_app", **options))
        else:
            uvicorn.run("app.server:create_app", **options)


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


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--project", "project_name", required=True, help="the project to import into")
def import_command(file: Path, project_name: str) -> None:
    """Import a Kissmetrics export (JSON lines) into a project; safe to run twice."""
    from tqdm import tqdm

    from .errors import NotFound, Unavailable
    from .importer import UnreadableFile, import_file
    from .storage.pool import CONNECTION_ERRORS

    settings = _settings()
    url = _url(settings)

    async def run():
        async with _running_services(url, settings) as services:
            return await import_file(
                services, project_name, file,
                lambda total: tqdm(total=total, unit="line", desc=f"importing {file.name}", file=sys.stderr),
            )

    try:
        report = _run(run())
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    except UnreadableFile as exc:
        raise click.ClickException(str(exc)) from None
    except (Unavailable, *CONNECTION_ERRORS) as exc:
        raise click.ClickException(f"the database is unavailable ({exc}); the import is safe to run again") from None
    click.echo(f"imported {report.events} new events ({report.duplicates} already there), "
               f"{report.aliases} aliases, {report.property_sets} property sets from {file}")
    if report.bad:
        shown = report.bad[:1000]
        click.echo(f"skipped {len(report.bad)} bad line{'s' if len(report.bad) != 1 else ''}:")
        for bad in shown:
            click.echo(f"  line {bad.line}: {bad.reason}")
        if len(report.bad) > len(shown):
            click.echo(f"  … and {len(report.bad) - len(shown)} more")
        if report.imported == 0:
            raise click.ClickException(f"nothing in {file} could be read as a Kissmetrics export")


@main.command()
@click.option("--people", default=1000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="how many people to simulate")
@click.option("--project", "project_name", default="demo", show_default=True,
              help="the project to load into (created when missing)")
@click.option("--seed", default=42, show_default=True, type=int, help="random seed (same seed, same data)")
def demo(people: int, project_name: str, seed: int) -> None:
    """Load a realistic SaaS demo data set (visits, campaigns, an A/B test,
    signups, billing with refunds and churn, logins) through the ingest path."""
    from tqdm import tqdm

    from .demo import load_demo
    from .storage.projects import ProjectRepository

    settings = _settings()
    url = _url(settings)

    async def run():
        async with _running_services(url, settings, max_size=12, flushers=4) as services:
            found = await ProjectRepository(services.pool).by_name(project_name)
            if found is None:
                keys = await services.auth.create_project(project_name)
                _announce_new_keys(keys)
                project_id = keys.id
            else:
                click.echo(f"Loading into the existing project {project_name!r} (its keys were shown when it was"
                           f" created; `whodid project rotate-keys {project_name}` makes new ones).")
                project_id = found.id
            with tqdm(total=people, unit="people", desc="demo") as bar:
                return await load_demo(services, project_id, people, seed=seed, progress=bar.update)

    stats = _run(run())
    click.echo(
        f"{stats.people} people, {stats.events} events ({stats.duplicates} already there),"
        f" {stats.signups} signups, {stats.paying} paying, {stats.property_sets} property sets"
        f" in {stats.seconds:.1f} s"
    )


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

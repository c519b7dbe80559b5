"""The `whodid` command."""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import sys
from datetime import timezone
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
    if not settings.database_url:
        # The embedded PostgreSQL stops with the command that started it
        # (app/storage/embedded.py), SIGTERM included; `serve` does it itself.
        from .storage.embedded import release

        atexit.register(release)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Workers started by uvicorn inherit the environment: point them at the same server.
    os.environ["DATABASE_URL"] = url
    return url


class _Signalled(BaseException):
    """SIGINT or SIGTERM reached `whodid serve` outside uvicorn (while the
    database starts, or re-raised by uvicorn once it has shut down)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    raise _Signalled(signum)


def _die_by(signum: int) -> None:
    """End as the signal would have ended us (exit status -N for the parent),
    now that what we started is stopped. PID 1 (a container) cannot be killed
    by its own default action: it exits 128+N instead."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.getpid() == 1:
        os._exit(128 + signum)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _where_the_data_is(settings: Settings, url: str) -> str:
    if settings.database_url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host = parts.hostname or "local socket"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"database:  PostgreSQL at {user}{host}{port}{parts.path} (DATABASE_URL)"
    from .storage.embedded import current

    embedded = current()
    plain = url.replace("&application_name=whodid", "").replace("?application_name=whodid", "")
    return (f"data:      {embedded.pgdata if embedded else settings.data_dir}"
            f" (embedded PostgreSQL; it stops when whodid stops)\n"
            f"           psql / pg_dump: '{plain}'")


def _exit_on_sigterm(signum, frame) -> None:
    """SIGTERM outside an event loop: exit (atexit then stops the embedded
    PostgreSQL), with the status the signal would have given a shell."""
    sys.exit(128 + signum)


def _run(coro):
    """asyncio.run(coro). When SIGTERM is to end the command (_exit_on_sigterm),
    the loop takes it instead while it runs and cancels the command: the writer
    drains, the services close, then the command exits 143. (A SystemExit
    raised by a signal handler at an arbitrary point of the event loop can be
    lost: a long `whodid demo` sometimes went on loading after SIGTERM.)"""
    if signal.getsignal(signal.SIGTERM) is not _exit_on_sigterm:
        return asyncio.run(coro)

    async def cancelled_by_sigterm():
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        terminated = []

        def terminate() -> None:
            terminated.append(True)
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await coro
        except asyncio.CancelledError:
            if terminated:
                raise SystemExit(128 + signal.SIGTERM) from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    return asyncio.run(cancelled_by_sigterm())


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
@click.option("--role", type=click.Choice(["all", "api", "live"]), default=None,
              help="what to serve: all (default; WHODID_ROLE), api (all but GraphQL over WebSocket) or "
                   "live (only GraphQL over WebSocket subscriptions, /live, health and metrics)")
def serve(host: str, port: int, workers: int, role: str | None) -> None:
    """Start the API (GraphQL at /graphql, tracking endpoints, /healthz).
    Ctrl-C or SIGTERM stops it, and the embedded PostgreSQL with it."""
    if role is not None:
        os.environ["WHODID_ROLE"] = role  # the workers read their settings from the environment
    from .database import bootstrap_default_project, prepare_database
    from .listening import STARTUP_FAILURE, _bind_problem
    from .logs import setup_logging
    from .storage.embedded import release

    settings = _settings()
    # Check first, then announce: a busy port fails before anything is started or printed.
    problem = _bind_problem(host, port) if port else None
    if problem is not None:
        click.echo(f"whodid: cannot listen on {host}:{port}: {problem.strerror}", err=True)
        sys.exit(STARTUP_FAILURE)
    setup_logging(settings.log_format)
    signalled = None
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = _url(settings)
        _run(prepare_database(url, settings))
        keys = _run(bootstrap_default_project(url))
        click.echo(_where_the_data_is(settings, url))
        if keys:
            _announce_new_keys(keys)
        click.echo(f"whodid on http://{host}:{port}/graphql (GraphiQL in a browser; live events at /live)")
        click.echo(f"dashboard on http://{host}:{port}/dashboard")
        _serve(host, port, workers)
    except _Signalled as exc:
        signalled = exc.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopped = release()
        if stopped:
            click.echo(stopped, err=True)
    if signalled is not None:
        _die_by(signalled)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from .listening import serve_workers, spreads_connections

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
            serve_workers(uvicorn.Config("app.server:create_served_app", **options))
        else:
            uvicorn.run("app.server:create_served_app", **options)


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
@click.option("--anchor", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the data covers the 182 days before this day (YYYY-MM-DD, UTC; default: today);"
                   " the same anchor, seed and --people give the same data on any day")
def demo(people: int, project_name: str, seed: int, anchor) -> None:
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
                return await load_demo(services, project_id, people, seed=seed, progress=bar.update,
                                       anchor=anchor.replace(tzinfo=timezone.utc) if anchor else None)

    stats = _run(run())
    click.echo(
        f"{stats.people} people, {stats.events} events ({stats.duplicates} already there),"
        f" {stats.signups} signups, {stats.paying} paying, {stats.property_sets} property sets"
        f" in {stats.seconds:.1f} s"
    )


@main.group()
def db() -> None:
    """The embedded PostgreSQL (used when DATABASE_URL is unset)."""


@db.command("status")
def db_status() -> None:
    """Whether the embedded PostgreSQL runs, where, and who uses it."""
    from .storage.embedded import status

    settings = _settings()
    if settings.database_url:
        click.echo("DATABASE_URL is set: whodid uses that server, not an embedded one.")
        return
    found = status(settings.data_dir)
    if not found.running:
        click.echo(f"stopped ({found.pgdata}); whodid starts it when it needs it")
        return
    click.echo(f"running (pid {found.pid}) in {found.pgdata}")
    click.echo(f"  psql / pg_dump: '{found.uri}'")
    if found.holders:
        click.echo(f"  used by whodid process {', '.join(map(str, found.holders))}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL now (a running `whodid serve` loses its
    database until it is started again)."""
    from .storage.embedded import status, stop

    settings = _settings()
    if settings.database_url:
        raise click.ClickException("DATABASE_URL is set: there is no embedded PostgreSQL to stop")
    found = status(settings.data_dir)
    if found.holders:
        click.echo(f"note: whodid process {', '.join(map(str, found.holders))} uses it", err=True)
    click.echo(f"stopped ({found.pgdata})" if stop(found.pgdata) else f"not running ({found.pgdata})")


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


# person delete|export, export, project delete|set-retention (app/cli_lifecycle.py)
from . import cli_lifecycle  # noqa: E402,F401

if __name__ == "__main__":
    main()

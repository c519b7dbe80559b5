"""The data's lifecycle from the command line (issue 15): `whodid person
delete|export`, `whodid export`, `whodid project delete|set-retention`.
Registered on app/cli.py's groups when it is imported."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click
import orjson

from .cli import _run, _settings, _url, main, project


async def _pool(url: str, max_size: int = 2):
    from .database import prepare_database
    from .storage.pool import create_pool

    await prepare_database(url, _settings())
    return await create_pool(url, min_size=1, max_size=max_size)


async def _project_id(pool, name: str):
    from .storage.projects import ProjectRepository

    found = await ProjectRepository(pool).by_name(name)
    if found is None:
        raise click.ClickException(f"no project named {name!r}")
    return found.id


def _database_errors():
    from .errors import Unavailable
    from .storage.pool import CONNECTION_ERRORS

    return (Unavailable, *CONNECTION_ERRORS)


# ---------------------------------------------------------------- people


@main.group()
def person() -> None:
    """One person's data: delete it (right to erasure) or export it (right of access)."""


@person.command("delete")
@click.option("--project", "project_name", required=True, help="the project the person belongs to")
@click.argument("identity")
def person_delete(project_name: str, identity: str) -> None:
    """Delete the person IDENTITY resolves to: events, identities, properties and
    their history, in one transaction (as the deletePerson mutation)."""
    from .storage.lifecycle import delete_person

    async def run():
        pool = await _pool(_url(_settings()))
        try:
            return await delete_person(pool, await _project_id(pool, project_name), identity=identity)
        finally:
            await pool.close()

    try:
        gone = _run(run())
    except _database_errors() as exc:
        raise click.ClickException(f"the database is unavailable ({exc})") from None
    if not gone.deleted:
        raise click.ClickException(f"no person with the identity {identity!r} in {project_name!r}; nothing deleted")
    click.echo(f"deleted person {gone.person_id} and {gone.events} events")


@person.command("export")
@click.option("--project", "project_name", required=True, help="the project the person belongs to")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file (default: stdout)")
@click.argument("identity")
def person_export(project_name: str, identity: str, output: Path | None) -> None:
    """Everything stored about the person IDENTITY resolves to, as one JSON
    document: identities, properties, property history, events."""
    from .storage.lifecycle import person_data

    async def run():
        pool = await _pool(_url(_settings()))
        try:
            project_id = await _project_id(pool, project_name)
            async with pool.acquire() as conn:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    return await person_data(conn, project_id, identity)
        finally:
            await pool.close()

    data = _run(run())
    if data is None:
        raise click.ClickException(f"no person with the identity {identity!r} in {project_name!r}")
    text = orjson.dumps({"project": project_name, **data}, option=orjson.OPT_INDENT_2) + b"\n"
    if output:
        output.write_bytes(text)
    else:
        sys.stdout.buffer.write(text)


# ---------------------------------------------------------------- projects


@project.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def project_delete(name: str, yes: bool) -> None:
    """Delete a project and everything in it (events, people, keys)."""
    from .storage.lifecycle import delete_project

    async def find():
        pool = await _pool(_url(_settings()))
        try:
            project_id = await _project_id(pool, name)
            events = await pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project_id)
            people = await pool.fetchval(
                "SELECT count(*) FROM persons WHERE project_id = $1 AND merged_into IS NULL", project_id)
            return project_id, events, people
        finally:
            await pool.close()

    project_id, events, people = _run(find())
    if not yes:
        click.confirm(f"Delete the project {name!r} with its {people} people and {events} events? This cannot be"
                      " undone", abort=True)

    async def run():
        pool = await _pool(_url(_settings()))
        try:
            return await delete_project(pool, project_id)
        finally:
            await pool.close()

    counts = _run(run())
    click.echo(f"deleted project {name!r}: {counts['events']} events, {counts['persons']} people,"
               f" {counts['identities']} identities, {counts['property_changes']} property changes")


MAX_RETENTION_DAYS = 36525  # 100 years (db/migrations/0010_lifecycle.sql)


@project.command("set-retention")
@click.argument("name")
@click.argument("days")
def project_set_retention(name: str, days: str) -> None:
    """Keep the project's events for DAYS days (1 to 36525, i.e. 100 years);
    older ones are removed by the server in the background. `none`: keep all."""
    from .storage.lifecycle import set_retention

    value: int | None
    if days.strip().lower() in ("none", "off", "forever"):
        value = None
    else:
        try:
            value = int(days)
        except ValueError:
            raise click.BadParameter(f"DAYS must be a whole number of days or none, not {days!r}",
                                     param_hint="DAYS") from None
        if not 1 <= value <= MAX_RETENTION_DAYS:
            raise click.BadParameter(
                f"the retention is 1 day to 100 years ({MAX_RETENTION_DAYS} days), not {value}", param_hint="DAYS")

    async def run():
        pool = await _pool(_url(_settings()))
        try:
            return await set_retention(pool, name, value)
        finally:
            await pool.close()

    if _run(run()) is None:
        raise click.ClickException(f"no project named {name!r}")
    click.echo(f"project {name!r}: " + ("events kept for ever" if value is None else f"events kept {value} days"))


# ---------------------------------------------------------------- export


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date or time: {value!r}", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@main.command("export")
@click.option("--project", "project_name", required=True, help="the project to export")
@click.option("--from", "from_", default=None, help="events at or after this time (ISO 8601, UTC by default)")
@click.option("--to", default=None, help="events before this time")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file (default: stdout)")
def export_command(project_name: str, from_: str | None, to: str | None, output: Path | None) -> None:
    """Write the project's events (and the identities and property changes that
    give them their people) as Kissmetrics export JSON lines: what `whodid
    import` reads."""
    from tqdm import tqdm

    from .exporter import export_project

    since, until = _when(from_, "--from"), _when(to, "--to")

    async def run(handle):
        pool = await _pool(_url(_settings()))
        try:
            project_id = await _project_id(pool, project_name)
            bar = None

            def progress(total: int):
                nonlocal bar
                bar = tqdm(total=total, unit="line", desc=f"exporting {project_name}", file=sys.stderr)
                return bar.update

            try:
                return await export_project(pool, project_id, handle, since=since, until=until, progress=progress)
            finally:
                if bar is not None:
                    bar.close()
        finally:
            await pool.close()

    try:
        if output:
            with output.open("wb") as handle:
                stats = _run(run(handle))
        else:
            stats = _run(run(sys.stdout.buffer))
    except _database_errors() as exc:
        raise click.ClickException(f"the database is unavailable ({exc})") from None
    click.echo(f"exported {stats.events} events, {stats.aliases} aliases, {stats.property_sets} property sets"
               + (f" to {output}" if output else ""), err=True)

"""Helpers of the security tests: what a project holds (counted and snapshot
through the `services` fixture's pool, not through the API under test), and
the check that an answer leaks nothing: no marker of another project, no
stack trace, no SQL."""
from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, settings

# The fuzzers' budget: 60 examples a test, no deadline (each example is a real
# request), fixtures shared across examples (their counts are taken around
# each one), no example database (no state carried between runs).
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# What must never appear in an answer, whatever the request: a trace, a
# driver or database detail, a statement.
_INTERNALS = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"asyncpg|psycopg|sqlstate|PostgresError|pg_catalog", re.IGNORECASE),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[^\n]{0,200}\b(FROM|VALUES|SET|WHERE)\b"),
    re.compile(r"\bproject_id\b|\bidempotency_key\b|\bproperty_changes\b"),
    re.compile(r"OverflowError|RecursionError|KeyError|AttributeError|TypeError"),
]


def assert_no_leak(text: str, markers: list[str] = ()) -> None:
    """`text` (a whole response body) names none of `markers` and shows no
    internals."""
    for marker in markers:
        assert marker not in text, f"leaked {marker!r}: {text[:500]}"
    for pattern in _INTERNALS:
        assert not pattern.search(text), f"internals ({pattern.pattern}) in: {text[:500]}"


_TRACES = _INTERNALS[:2] + [re.compile(r"asyncpg\.exceptions|Unexpected error")]


def assert_no_trace(text: str) -> None:
    """For answers that may echo random input (the fuzzers', whose strings can
    hold any word, SQL included): no stack trace, no driver exception, no
    masked unexpected error."""
    for pattern in _TRACES:
        assert not pattern.search(text), f"internals ({pattern.pattern}) in: {text[:500]}"


async def event_count(services, project_id: uuid.UUID) -> int:
    return await services.pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project_id)


async def snapshot(services, project_id: uuid.UUID) -> dict:
    """Everything a project holds, in a comparable form."""
    async with services.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT id, person_id, identity, name, properties, revenue, ts, idempotency_key"
            " FROM events WHERE project_id = $1 ORDER BY seq", project_id)
        persons = await conn.fetch(
            "SELECT id, identified, merged_into, properties FROM persons WHERE project_id = $1 ORDER BY id",
            project_id)
        identities = await conn.fetch(
            "SELECT identity, person_id FROM identities WHERE project_id = $1 ORDER BY identity", project_id)
        changes = await conn.fetch(
            "SELECT person_id, key, value, at FROM property_changes WHERE project_id = $1 ORDER BY seq", project_id)
    return {
        "events": [tuple(r) for r in events],
        "persons": [tuple(r) for r in persons],
        "identities": [tuple(r) for r in identities],
        "changes": [tuple(r) for r in changes],
    }


async def counts(services, project_id: uuid.UUID) -> tuple[int, int, int, int]:
    """(events, persons, identities, property changes) of a project."""
    return tuple(await services.pool.fetchrow(
        "SELECT (SELECT count(*) FROM events WHERE project_id = $1),"
        " (SELECT count(*) FROM persons WHERE project_id = $1),"
        " (SELECT count(*) FROM identities WHERE project_id = $1),"
        " (SELECT count(*) FROM property_changes WHERE project_id = $1)", project_id))


async def identity_anywhere(services, identity: str) -> int:
    """How many projects know this identity (a request without a valid key
    must have written it nowhere)."""
    return await services.pool.fetchval("SELECT count(*) FROM identities WHERE identity = $1", identity)

"""Shared by the cohort and revenue tests (no tests here): random scenarios played
through the real ingest path, and the oracle's inputs read back from the database.

The oracle (tests/support/reference.py) takes events already attributed to the person
their identity resolves to NOW; that attribution is recomputed here from the
`identities` table (event.identity -> person), not taken from events.person_id,
so a merge that forgot to move an event would show up as a difference.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from tests.support.reference import Ev, PropSet, make_event

from app.ingest.validation import EventIn

UTC = timezone.utc


def T(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# A small set of instants (equal timestamps happen) around month, ISO-week, day and
# hour boundaries, and exactly one hour/day/week/30 days apart from each other.
BASE = T(2024, 1, 29, 10)  # a Monday
TIMES = sorted({
    T(2023, 12, 31, 23, 59, 59),
    T(2024, 1, 1),                      # Monday, month and year start
    T(2024, 1, 1, 0, 30),
    T(2024, 1, 1, 1),
    T(2024, 1, 2),
    T(2024, 1, 7, 23, 59, 59),          # Sunday night
    T(2024, 1, 8),                      # next Monday
    T(2024, 1, 31, 23, 59, 59),
    T(2024, 2, 1),
    T(2024, 2, 29, 12),                 # leap day
    T(2024, 3, 1),
    BASE,
    BASE + timedelta(hours=1),
    BASE + timedelta(days=1),
    BASE + timedelta(days=7),
    BASE + timedelta(days=30),
    BASE + timedelta(days=30, seconds=-1),
    T(2024, 4, 15, 8),
})
# Range bounds: the instants plus a few off-boundary ones.
BOUNDS = sorted(set(TIMES) | {T(2023, 12, 1), T(2024, 1, 15, 12), T(2024, 6, 1), T(2023, 12, 31)})

NAMES = ["A", "B", "C"]
USERS = [f"user{i}" for i in range(4)]
ANONS = [f"anon{i}" for i in range(5)]
IDENTITIES = USERS + ANONS
REVENUES = [None, None, "10", "-5", "0", "19.99", "-100", "0.005", 3, "33.333", "1e2", -0.5]
SOURCE_KEY = "Campaign Source"
SOURCES = ["google", "fb", "Zeta", "alpha", "ünï", 7, True, None, {"a": [1, 2]}]
PERIODS = ["HOUR", "DAY", "WEEK", "MONTH"]


@dataclass(frozen=True)
class Event:
    identity: str
    name: str
    at: datetime
    revenue: object
    source: object  # a value of SOURCE_KEY, or ... when the property is absent
    other: bool = False  # an unrelated property too


@dataclass(frozen=True)
class Identify:
    anonymous: str
    user: str


@dataclass(frozen=True)
class Alias:
    left: str
    right: str


@dataclass(frozen=True)
class SetProps:
    identity: str
    value: object
    at: datetime
    key: str = SOURCE_KEY


MISSING = ...

events_st = st.builds(
    Event,
    identity=st.sampled_from(IDENTITIES),
    name=st.sampled_from(NAMES),
    at=st.sampled_from(TIMES),
    revenue=st.sampled_from(REVENUES),
    source=st.one_of(st.just(MISSING), st.just(MISSING), st.sampled_from(SOURCES)),
    other=st.booleans(),
)
ops_st = st.lists(
    st.one_of(
        events_st, events_st, events_st, events_st,
        st.builds(Identify, st.sampled_from(ANONS), st.sampled_from(USERS)),
        st.builds(Alias, st.sampled_from(IDENTITIES), st.sampled_from(IDENTITIES)).filter(lambda a: a.left != a.right),
        st.builds(SetProps, st.sampled_from(IDENTITIES), st.sampled_from(SOURCES), st.sampled_from(TIMES),
                  st.sampled_from([SOURCE_KEY, SOURCE_KEY, "plan"])),
    ),
    min_size=3,
    max_size=40,
)


def range_st():
    """[from, to) with from <= to: often the whole data, else any two bounds."""
    return st.one_of(
        st.just((BOUNDS[0], BOUNDS[-1])),
        st.tuples(st.sampled_from(BOUNDS), st.sampled_from(BOUNDS)).map(lambda p: (min(p), max(p))),
    )


def event_in(e: Event) -> EventIn:
    props: dict = {}
    if e.revenue is not None:
        props["Revenue"] = e.revenue
    if e.source is not MISSING:
        props[SOURCE_KEY] = e.source
    if e.other:
        props["plan"] = "pro"
    return EventIn(e.identity, e.name, props, e.at)


async def play(services, project_id, ops) -> None:
    """Run the operations in order through the ingest service; consecutive events
    go as one batch (as a client would send them)."""
    batch: list[EventIn] = []

    async def flush():
        if batch:
            await services.ingest.record_events(project_id, list(batch))
            batch.clear()

    for op in ops:
        if isinstance(op, Event):
            batch.append(event_in(op))
            continue
        await flush()
        if isinstance(op, Identify):
            await services.ingest.identify(project_id, op.anonymous, op.user)
        elif isinstance(op, Alias):
            await services.ingest.alias(project_id, op.left, op.right)
        elif isinstance(op, SetProps):
            await services.ingest.set_properties(project_id, op.identity, {op.key: op.value}, op.at)
    await flush()


async def oracle_inputs(pool, project_id) -> tuple[list[Ev], list[PropSet]]:
    """Events attributed to the person their identity resolves to now, and the
    property history of the live persons."""
    resolve = {
        r["identity"]: str(r["person_id"])
        for r in await pool.fetch("SELECT identity, person_id FROM identities WHERE project_id = $1", project_id)
    }
    events = [
        make_event(r["seq"], resolve[r["identity"]], r["name"], r["ts"], r["properties"])
        for r in await pool.fetch(
            "SELECT seq, identity, name, properties, ts FROM events WHERE project_id = $1 ORDER BY seq", project_id
        )
    ]
    live = {
        r["id"]: str(r["live"])
        for r in await pool.fetch(
            "SELECT id, coalesce(merged_into, id) AS live FROM persons WHERE project_id = $1", project_id
        )
    }
    propsets = [
        PropSet(r["seq"], live[r["person_id"]], r["key"], r["value"], r["at"])
        for r in await pool.fetch(
            "SELECT seq, person_id, key, value, at FROM property_changes WHERE project_id = $1 ORDER BY seq",
            project_id,
        )
    ]
    return events, propsets


async def fresh_project(services, prefix: str):
    return await services.auth.create_project(f"{prefix}-{secrets.token_hex(6)}")


def as_dicts(result) -> list[dict]:
    """A cohort result in the oracle's shape (tests/support/reference.py `cohort`)."""
    return [
        {
            "start": row.start,
            "size": row.size,
            "cells": [{"index": c.index, "people": c.people, "rate": c.rate, "complete": c.complete} for c in row.cells],
        }
        for row in result.rows
    ]

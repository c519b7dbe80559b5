"""A subscriber's bounded queue: the oldest events go first, are counted, and
the count travels with the next event taken."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from app.live.queue import Subscriber
from app.storage.events import EventRow

PROJECT = uuid.uuid4()


def row(seq: int, *, name: str = "E", identity: str = "u", person: uuid.UUID | None = None) -> EventRow:
    now = datetime.now(timezone.utc)
    return EventRow(uuid.uuid4(), seq, name, person or uuid.uuid5(PROJECT, identity), identity, {}, None, now, now)


async def test_a_full_queue_loses_the_oldest_and_says_how_many():
    sub = Subscriber(PROJECT, capacity=3)
    rows = [row(i) for i in range(10)]
    for r in rows:
        sub.offer(r)
    assert len(sub.queue) == 3
    assert sub.dropped_total == 7
    first = await sub.get()
    assert first == (rows[7], 7)
    assert await sub.get() == (rows[8], 0)
    sub.offer(rows[0])
    assert await sub.get() == (rows[9], 0)
    assert await sub.get() == (rows[0], 0)
    assert sub.dropped_total == 7 and sub.delivered == 4


async def test_get_waits_and_close_releases_the_waiter():
    sub = Subscriber(PROJECT, capacity=2)
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    r = row(1)
    sub.offer(r)
    assert await waiter == (r, 0)
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.close()
    assert await waiter is None
    sub.offer(row(2))  # ignored once closed
    assert not sub.queue


def test_filters_by_name_and_follows_the_identity_into_a_merge():
    anon_person, user_person = uuid.uuid4(), uuid.uuid4()
    sub = Subscriber(PROJECT, capacity=10, names=frozenset({"A"}), identity="anon", person_id=anon_person)
    assert sub.matches(row(1, name="A", identity="other", person=anon_person))
    assert not sub.matches(row(2, name="B", identity="anon", person=anon_person))
    assert not sub.matches(row(3, name="A", identity="user", person=user_person))
    # anon was merged into user's person: its next event re-anchors the subscription
    assert sub.matches(row(4, name="A", identity="anon", person=user_person))
    assert sub.person_id == user_person
    assert sub.matches(row(5, name="A", identity="user", person=user_person))
    # an event of another name still re-anchors (it is not delivered)
    third = uuid.uuid4()
    assert not sub.matches(row(6, name="B", identity="anon", person=third))
    assert sub.person_id == third


def test_an_empty_names_list_matches_nothing_like_the_events_query():
    sub = Subscriber(PROJECT, capacity=1, names=frozenset())
    assert not sub.matches(row(1))

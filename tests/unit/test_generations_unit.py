"""app/reports/generations.py with a fake pool and listener: a generation is
held only while the listener listens, and only when read or heard since it
last began to; a notification and a read racing give the larger."""
from __future__ import annotations

import asyncio
import uuid

from app.reports.generations import Generations
from app.storage.lifecycle import GENERATION_CHANNEL
from tests.support.fakes import FakeListener, FakePool

PROJECT = uuid.UUID(int=7)


class SlowPool(FakePool):
    """fetchval waits until `release` is set (a read in flight)."""

    def __init__(self):
        super().__init__()
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def fetchval(self, sql: str, *args):
        value = self.generation
        self.started.set()
        await self.release.wait()
        return value


def followed(pool) -> tuple[Generations, FakeListener]:
    generations, listener = Generations(pool), FakeListener()
    generations.follow(listener)
    return generations, listener


def notify(listener: FakeListener, project: uuid.UUID, generation: int) -> None:
    listener.channels[GENERATION_CHANNEL][0](f"{project} {generation}")


def state(listener: FakeListener, listening: bool) -> None:
    listener.channels[GENERATION_CHANNEL][1](listening)


async def test_without_a_listener_every_report_reads_the_primary():
    pool = FakePool()
    generations = Generations(pool)
    assert [await generations.get(PROJECT) for _ in range(3)] == [0, 0, 0]
    assert generations.reads == 3


async def test_held_while_listening_followed_by_notify_and_dropped_when_it_stops():
    pool = FakePool()
    generations, listener = followed(pool)
    state(listener, True)
    pool.generation = 4
    assert await generations.get(PROJECT) == 4
    assert await generations.get(PROJECT) == 4
    assert generations.reads == 1
    pool.generation = 5  # committed; the notification is what this process follows
    notify(listener, PROJECT, 5)
    assert await generations.get(PROJECT) == 5 and generations.reads == 1
    # The listener stops: nothing held, every report reads, nothing kept.
    state(listener, False)
    pool.generation = 6
    assert await generations.get(PROJECT) == 6
    notify(listener, PROJECT, 7)  # (not listening: ignored)
    assert await generations.get(PROJECT) == 6 and generations.reads == 3
    # Back: read once, then held.
    state(listener, True)
    assert await generations.get(PROJECT) == 6
    assert await generations.get(PROJECT) == 6 and generations.reads == 4


async def test_a_read_in_flight_across_a_reconnect_is_not_kept():
    pool = SlowPool()
    generations, listener = followed(pool)
    state(listener, True)
    pool.generation = 1
    reading = asyncio.create_task(generations.get(PROJECT))
    await pool.started.wait()
    # The listener drops and comes back while the read is in flight: a bump
    # notified in between was missed, so the read's value must not be held.
    state(listener, False)
    state(listener, True)
    pool.release.set()
    assert await reading == 1
    pool.generation = 2
    assert await generations.get(PROJECT) == 2
    assert generations.reads == 2


async def test_a_notification_during_a_read_wins_over_its_older_value():
    pool = SlowPool()
    generations, listener = followed(pool)
    state(listener, True)
    pool.generation = 3
    reading = asyncio.create_task(generations.get(PROJECT))
    await pool.started.wait()  # the read's snapshot saw 3
    notify(listener, PROJECT, 4)  # a bump committed after it
    pool.release.set()
    assert await reading == 4
    assert await generations.get(PROJECT) == 4 and generations.reads == 1


async def test_a_held_value_expires_and_forget_drops_it():
    now = [0.0]
    pool = FakePool()
    generations = Generations(pool, ttl=10, clock=lambda: now[0])
    listener = FakeListener()
    generations.follow(listener)
    state(listener, True)
    await generations.get(PROJECT)
    await generations.get(PROJECT)
    assert generations.reads == 1
    now[0] = 11
    await generations.get(PROJECT)
    assert generations.reads == 2
    generations.forget(PROJECT)
    await generations.get(PROJECT)
    assert generations.reads == 3
    notify(listener, PROJECT, "not a number")  # unreadable: ignored
    assert await generations.get(PROJECT) == 0

"""The live bus with a fake listener and event repository: a notification
reaches the subscribers of its project only, filtered by name; an event
announced by id is fetched; when the fetch fails they count as dropped."""
from __future__ import annotations

import asyncio
import uuid

from app.storage import live_wire as wire
from app.live.bus import LiveBus
from tests.support.fakes import FakeEvents, FakeListener, event_row

PROJECT, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def bus_with(events: FakeEvents | None = None) -> tuple[LiveBus, FakeListener]:
    listener = FakeListener()
    bus = LiveBus(listener, pool=None, events=events or FakeEvents(), identity_refresh=3600)
    return bus, listener


def notify(listener: FakeListener, payload: str) -> None:
    on_notify, _ = listener.channels[wire.CHANNEL]
    on_notify(payload)


async def next_row(sub):
    got = await asyncio.wait_for(sub.get(), timeout=5)
    return got[0] if got else None


async def test_events_reach_the_subscribers_of_their_project_by_name():
    bus, listener = bus_with()
    bus.start()
    try:
        everything = await bus.subscribe(PROJECT)
        paid_only = await bus.subscribe(PROJECT, names=["Paid"])
        elsewhere = await bus.subscribe(OTHER)
        viewed, paid = event_row(PROJECT, "Viewed", seq=1), event_row(PROJECT, "Paid", seq=2)
        for payload in wire.encode(PROJECT, [viewed, paid]):
            notify(listener, payload)
        assert [await next_row(everything), await next_row(everything)] == [viewed, paid]
        assert await next_row(paid_only) == paid
        assert elsewhere.queue == type(elsewhere.queue)()
        assert bus.subscriber_count(PROJECT) == 2
    finally:
        await bus.close()


async def test_a_notification_for_a_project_nobody_watches_is_ignored():
    bus, listener = bus_with()
    bus.start()
    try:
        for payload in wire.encode(OTHER, [event_row(OTHER)]):
            notify(listener, payload)
        assert bus.stats["ignored"] == 1
    finally:
        await bus.close()


def by_ids(rows) -> str:
    return f"{PROJECT.hex}:[" + ",".join(f'"{r.id}"' for r in rows) + "]"


async def test_rows_announced_by_id_are_fetched():
    rows = [event_row(PROJECT, f"E{i}", seq=i) for i in range(1, 3)]
    events = FakeEvents(rows)
    bus, listener = bus_with(events)
    bus.start()
    try:
        sub = await bus.subscribe(PROJECT)
        notify(listener, by_ids(rows))
        assert [await next_row(sub), await next_row(sub)] == rows
        assert events.asked == [[r.id for r in rows]]
    finally:
        await bus.close()


class FailingEvents(FakeEvents):
    async def by_ids(self, project_id, ids):
        raise OSError("database away")


async def test_rows_that_cannot_be_fetched_count_as_dropped():
    bus, listener = bus_with(FailingEvents())
    bus.start()
    try:
        sub = await bus.subscribe(PROJECT)
        notify(listener, by_ids([event_row(PROJECT, seq=1), event_row(PROJECT, seq=2)]))
        for _ in range(100):
            if sub.dropped:
                break
            await asyncio.sleep(0.01)
        assert sub.dropped == 2 and not sub.queue
    finally:
        await bus.close()


class SlowEvents(FakeEvents):
    """A fetch that waits until the test lets it finish."""

    def __init__(self, rows):
        super().__init__(rows)
        self.release = asyncio.Event()
        self.fetching = asyncio.Event()

    async def by_ids(self, project_id, ids):
        self.fetching.set()
        await self.release.wait()
        return await super().by_ids(project_id, ids)


async def test_inline_rows_are_delivered_in_the_callback_and_never_overtake_a_fetch():
    fetched = [event_row(PROJECT, "Fetched", seq=1)]
    events = SlowEvents(fetched)
    bus, listener = bus_with(events)
    bus.start()
    try:
        sub = await bus.subscribe(PROJECT)
        inline = event_row(PROJECT, "Inline", seq=0)
        for payload in wire.encode(PROJECT, [inline]):
            notify(listener, payload)
        assert list(sub.queue) == [inline]  # delivered at once, no dispatcher turn
        assert await next_row(sub) == inline

        notify(listener, by_ids(fetched))  # the dispatcher holds it while it fetches
        later = event_row(PROJECT, "Later", seq=2)
        await asyncio.wait_for(events.fetching.wait(), 5)
        for payload in wire.encode(PROJECT, [later]):
            notify(listener, payload)
        assert not sub.queue  # queued behind the fetch, not delivered before it
        events.release.set()
        assert [await next_row(sub), await next_row(sub)] == [*fetched, later]
    finally:
        await bus.close()


class IdentitiesPool:
    """The identities' lookup of the refresh loop: each identity resolves to
    the person the test says (none at first)."""

    def __init__(self):
        self.persons: dict[str, uuid.UUID] = {}

    async def fetch(self, sql, project_id, identities):
        return [{"identity": i, "person_id": self.persons[i]} for i in identities if i in self.persons]


async def test_a_changed_identity_refresh_counts_from_when_it_is_set():
    # A test once paused the refresh (an hour) and restored 2 s afterwards; the
    # loop, already asleep for the hour, never followed a merge again.
    pool = IdentitiesPool()
    bus = LiveBus(FakeListener(), pool=pool, events=FakeEvents(), identity_refresh=3600)
    bus.start()
    try:
        sub = await bus.subscribe(PROJECT, identity="anon-77")
        await asyncio.sleep(0.05)  # the refresh loop is asleep for its hour
        survivor = uuid.uuid4()
        pool.persons["anon-77"] = survivor
        bus.identity_refresh = 0.05
        for _ in range(200):
            if sub.person_id == survivor:
                break
            await asyncio.sleep(0.01)
        assert sub.person_id == survivor
    finally:
        await bus.close()

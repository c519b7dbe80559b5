"""liveEvents over a real WebSocket against an in-process server: both
protocols, keys, filters, merges, drops reported in extensions, and nothing
left behind after unsubscribe or disconnect."""
from __future__ import annotations

import asyncio

import pytest

from tests.support.server import make_project
from tests.support.live import (
    IDENTIFY, LEGACY_WS, RECORD_EVENTS, LiveClient, Refused, eventually, gql, record,
)


@pytest.fixture
async def keys(live_server):
    return await make_project(live_server.services, "live")


async def test_committed_events_arrive_in_commit_order_with_their_person(live_server, keys):
    client = await LiveClient.connect(live_server.url, keys.read_key)
    try:
        await client.subscribe()
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        sent = []
        for i in range(5):
            sent.append(await record(live_server.url, keys.write_key, f"visitor-{i % 2}", f"Step {i}",
                                     {"i": i, "Revenue": "9.90"} if i == 3 else {"i": i}))
        got = await client.events(5)
        assert got == sent  # every field, as recordEvent itself answered
        assert got[3]["revenue"] == "9.90"
        people = await gql(live_server.url, keys.read_key, '{ person(identity: "visitor-1") { id } }')
        assert got[1]["personId"] == people["person"]["id"]
    finally:
        await client.close()


async def test_a_batch_arrives_whole_and_in_order(live_server, keys):
    client = await LiveClient.connect(live_server.url, keys.read_key)
    try:
        await client.subscribe()
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        batch = [{"identity": "b", "name": "Batch", "properties": {"i": i, "pad": "y" * (i * 40)}} for i in range(60)]
        await gql(live_server.url, keys.write_key, RECORD_EVENTS, {"input": batch})
        got = await client.events(60)
        assert [e["properties"]["i"] for e in got] == list(range(60))
    finally:
        await client.close()


async def test_names_filter(live_server, keys):
    client = await LiveClient.connect(live_server.url, keys.read_key)
    try:
        await client.subscribe({"names": ["Signed Up", "Paid"]})
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        for name in ["Visited Site", "Signed Up", "signed up", "Paid"]:
            await record(live_server.url, keys.write_key, "x", name)
        assert [e["name"] for e in await client.events(2)] == ["Signed Up", "Paid"]
        await client.nothing_within(0.3)
    finally:
        await client.close()


async def test_identity_filter_follows_merges(live_server, keys):
    url, wk = live_server.url, keys.write_key
    await record(url, wk, "ada@example.com", "Signed Up")
    await gql(url, wk, IDENTIFY, {"a": "ada-laptop", "u": "ada@example.com"})
    client = await LiveClient.connect(url, keys.read_key)
    try:
        # Subscribed by an anonymous identity before it is merged into Ada.
        await client.subscribe({"identity": "anon-77"})
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        await record(url, wk, "anon-77", "Viewed Pricing")
        await record(url, wk, "someone-else", "Viewed Pricing")
        await record(url, wk, "ada-laptop", "Viewed Docs")  # Ada, not (yet) anon-77's person
        assert (await client.next_event())["identity"] == "anon-77"
        await client.nothing_within(0.3)

        merged = await gql(url, wk, IDENTIFY, {"a": "anon-77", "u": "ada@example.com"})
        assert merged["identify"]["outcome"] == "MERGED"
        ada = merged["identify"]["person"]["id"]
        # Within the refresh interval the subscription follows anon-77 to Ada.
        (sub,) = live_server.bus.subscribers(keys.id)
        await eventually(lambda: str(sub.person_id) == ada)
        await record(url, wk, "ada-laptop", "Upgraded")
        event = await client.next_event()
        assert (event["name"], event["personId"]) == ("Upgraded", ada)
    finally:
        await client.close()


async def test_identity_filter_reanchors_on_its_own_events(live_server, keys):
    url, wk = live_server.url, keys.write_key
    await record(url, wk, "bob@example.com", "Signed Up")
    await gql(url, wk, IDENTIFY, {"a": "bob-phone", "u": "bob@example.com"})
    live_server.bus.identity_refresh, refresh = 3600.0, live_server.bus.identity_refresh
    client = await LiveClient.connect(url, keys.read_key)
    try:
        await client.subscribe({"identity": "anon-88"})
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        await gql(url, wk, IDENTIFY, {"a": "anon-88", "u": "bob@example.com"})
        await record(url, wk, "anon-88", "Came Back")  # resolves to Bob now: re-anchors at once
        await record(url, wk, "bob-phone", "Paid")
        assert [e["name"] for e in await client.events(2)] == ["Came Back", "Paid"]
    finally:
        live_server.bus.identity_refresh = refresh
        await client.close()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", LEGACY_WS])
async def test_both_protocols_deliver(live_server, keys, protocol):
    client = await LiveClient.connect(live_server.url, keys.read_key, protocol=protocol)
    try:
        await client.subscribe({"names": ["Ping"]})
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1)
        sent = await record(live_server.url, keys.write_key, "p", "Ping", {"protocol": protocol})
        assert await client.next_event() == sent
    finally:
        await client.close()


@pytest.mark.parametrize("payload", [
    {},
    {"authorization": "Bearer rk_not_a_key"},
    {"authorization": "rk_without_scheme"},
    "write",
])
async def test_refused_keys_close_with_4403(live_server, keys, payload):
    if payload == "write":
        payload = {"authorization": f"Bearer {keys.write_key}"}
    with pytest.raises(Refused) as refused:
        await LiveClient.connect(live_server.url, None, payload=payload)
    assert refused.value.code == 4403


@pytest.mark.parametrize("key", ["rk_not_a_key", "write", None])
async def test_legacy_protocol_refuses_with_connection_error(live_server, keys, key):
    if key == "write":
        key = keys.write_key
    with pytest.raises(Refused) as refused:
        await LiveClient.connect(live_server.url, key, protocol=LEGACY_WS)
    assert refused.value.payload["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    if key == keys.write_key:
        assert refused.value.payload["code"] == "FORBIDDEN"


async def test_a_database_that_cannot_check_the_key_says_retry(live_server, keys, monkeypatch):
    from app.errors import Unavailable

    async def down(key):
        raise Unavailable("database unavailable: test")

    monkeypatch.setattr(live_server.services.auth, "authenticate", down)
    with pytest.raises(Refused) as refused:
        await LiveClient.connect(live_server.url, keys.read_key)
    assert refused.value.code == 1013  # try again later, not "bad key"
    with pytest.raises(Refused) as refused:
        await LiveClient.connect(live_server.url, keys.read_key, protocol=LEGACY_WS)
    assert refused.value.payload["code"] == "UNAVAILABLE"


async def test_another_project_sees_nothing(live_server, keys):
    other = await make_project(live_server.services, "live-other")
    mine = await LiveClient.connect(live_server.url, keys.read_key)
    theirs = await LiveClient.connect(live_server.url, other.read_key)
    try:
        await mine.subscribe()
        await theirs.subscribe()
        await eventually(lambda: live_server.bus.subscriber_count(keys.id) == 1
                         and live_server.bus.subscriber_count(other.id) == 1)
        for i in range(3):
            await record(live_server.url, keys.write_key, "secret", "Mine", {"i": i})
        sentinel = await record(live_server.url, other.write_key, "theirs", "Theirs")
        assert await theirs.next_event() == sentinel  # and nothing of `keys` before it
        assert [e["name"] for e in await mine.events(3)] == ["Mine"] * 3
        await mine.nothing_within(0.2)
    finally:
        await mine.close()
        await theirs.close()


async def test_bad_filters_are_refused_with_the_field(live_server, keys):
    client = await LiveClient.connect(live_server.url, keys.read_key)
    try:
        await client.subscribe({"identity": "x" * 256})
        payload = await client.next_payload()
        (error,) = payload["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == "where.identity"
        assert live_server.bus.subscriber_count(keys.id) == 0
    finally:
        await client.close()


async def test_unsubscribe_and_disconnect_leave_nothing_behind(live_server, keys):
    bus = live_server.bus
    clients = [await LiveClient.connect(live_server.url, keys.read_key) for _ in range(3)]
    try:
        for c in clients:
            await c.subscribe()
        await clients[0].subscribe({"names": ["Second"]})  # two operations on one socket
        await eventually(lambda: bus.subscriber_count(keys.id) == 4)
        await record(live_server.url, keys.write_key, "u", "Second")
        for c in clients:
            await c.next_event()
        queues = bus.subscribers(keys.id)

        await clients[0].unsubscribe()  # `complete` of one operation
        await eventually(lambda: bus.subscriber_count(keys.id) == 3)
        await clients[1].close()  # a clean disconnect
        clients[2].ws.transport.abort()  # and a brutal one
        await eventually(lambda: bus.subscriber_count(keys.id) == 1)
        await clients[0].close()
        await eventually(lambda: bus.subscriber_count(keys.id) == 0)
        assert keys.id.hex not in bus._by_hex
        assert all(q.closed and not q.queue for q in queues)
        await record(live_server.url, keys.write_key, "u", "Nobody Listens")
        await asyncio.sleep(0.2)
        assert bus.subscriber_count(keys.id) == 0
    finally:
        for c in clients:
            await c.close()


async def test_drops_are_reported_in_the_next_events_extensions(live_server, keys):
    bus = live_server.bus
    size, bus.queue_size = bus.queue_size, 5
    try:
        client = await LiveClient.connect(live_server.url, keys.read_key)
        await client.subscribe()
        await eventually(lambda: bus.subscriber_count(keys.id) == 1)
    finally:
        bus.queue_size = size
    try:
        # One commit of 20 events reaches the 5-event queue in one go: the 15
        # oldest are dropped before the subscriber can take any.
        batch = [{"identity": "burst", "name": "Burst", "properties": {"i": i}} for i in range(20)]
        await gql(live_server.url, keys.write_key, RECORD_EVENTS, {"input": batch})
        first = await client.next_payload()
        assert first["data"]["liveEvents"]["properties"]["i"] == 15
        assert first["extensions"]["live"] == {"dropped": 15, "droppedTotal": 15}
        rest = [await client.next_payload() for _ in range(4)]
        assert [p["data"]["liveEvents"]["properties"]["i"] for p in rest] == [16, 17, 18, 19]
        assert all("live" not in (p.get("extensions") or {}) for p in rest)
        (sub,) = bus.subscribers(keys.id)
        assert sub.dropped_total == 15 and sub.delivered == 5
    finally:
        await client.close()


async def test_the_page_and_stats_routes(live_server, keys):
    import httpx

    async with httpx.AsyncClient(base_url=live_server.url) as http:
        page = await http.get("/live")
        assert page.status_code == 200
        assert "graphql-transport-ws" in page.text and "<script" in page.text
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        assert (await http.get("/live/stats")).status_code == 401
        write = await http.get("/live/stats", headers={"Authorization": f"Bearer {keys.write_key}"})
        assert write.status_code == 403
        ok = await http.get("/live/stats", headers={"Authorization": f"Bearer {keys.read_key}"})
        assert ok.json()["listening"] is True and ok.json()["subscribers"] == []

"""The Segment HTTP API: segment-analytics-python, unchanged, against a real
uvicorn; then what it sent, read back over GraphQL."""
from __future__ import annotations

import asyncio
import base64
import gzip
from datetime import datetime, timezone

import orjson
import pytest
from segment.analytics import Client

WHEN = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def segment_client(server: str, key: str, **options) -> Client:
    errors: list = []
    client = Client(key, host=server, sync_mode=True, max_retries=0,
                    on_error=lambda error, batch: errors.append(error), **options)
    client.errors = errors
    return client


def basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
async def test_official_client_track_identify_page_alias(server, project, readback, compressed):
    client = segment_client(server, project.write_key, gzip=compressed)

    def send():
        client.track(anonymous_id="anon-7", event="Viewed Pricing", properties={"plan": "pro", "seats": 3},
                     timestamp=WHEN, message_id="m-1")
        client.page(anonymous_id="anon-7", category="Docs", name="Install", properties={"path": "/docs/install"})
        client.identify(user_id="user-7", anonymous_id="anon-7", traits={"email": "seven@example.com", "age": 40})
        client.track(user_id="user-7", event="Order Completed", properties={"revenue": 19.99, "currency": "EUR"})
        client.alias(previous_id="user-7", user_id="crm-7")

    await asyncio.to_thread(send)
    person = await readback.person("crm-7")
    assert sorted(person["identities"]) == ["anon-7", "crm-7", "user-7"]
    assert person["identified"] is True
    # identify traits are person properties, with their JSON types.
    assert person["properties"] == {"email": "seven@example.com", "age": 40}
    events = {e["name"]: e for e in person["events"]["nodes"]}
    assert set(events) == {"Viewed Pricing", "Viewed Page", "Order Completed"}
    assert events["Viewed Pricing"]["properties"] == {"plan": "pro", "seats": 3}
    assert events["Viewed Pricing"]["identity"] == "anon-7"
    assert events["Viewed Page"]["properties"] == {"path": "/docs/install", "name": "Install", "category": "Docs"}
    # Segment's `revenue` counts as Revenue.
    assert events["Order Completed"]["revenue"] == "19.99"
    assert person["lifetimeRevenue"] == "19.99"


async def test_both_ids_link_and_the_event_goes_under_the_user_id(server, project, readback):
    client = segment_client(server, project.write_key)

    def send():
        client.track(anonymous_id="anon-8", event="Landed")
        client.track(user_id="user-8", anonymous_id="anon-8", event="Signed Up")

    await asyncio.to_thread(send)
    person = await readback.person("anon-8")
    assert sorted(person["identities"]) == ["anon-8", "user-8"] and person["identified"]
    by_name = {e["name"]: e["identity"] for e in person["events"]["nodes"]}
    assert by_name == {"Landed": "anon-8", "Signed Up": "user-8"}


async def test_queued_client_batch_and_message_id_idempotency(server, project, readback):
    client = Client(project.write_key, host=server, upload_interval=0.05, max_retries=0)

    def send():
        for i in range(25):
            client.track(user_id=f"u{i % 3}", event="Tick", properties={"i": i}, message_id=f"tick-{i}")
        client.flush()
        # The same messages again (a retry after a lost answer): stored once.
        for i in range(25):
            client.track(user_id=f"u{i % 3}", event="Tick", properties={"i": i}, message_id=f"tick-{i}")
        client.flush()
        client.join()

    await asyncio.to_thread(send)
    events = await readback.events()
    assert sorted(e["properties"]["i"] for e in events) == list(range(25))


async def test_identify_with_user_id_only_names_a_known_person(http, project, readback):
    response = await http.post("/v1/identify", json={"userId": 42, "traits": {"plan": "pro"}},
                               headers=basic(project.write_key))
    assert response.status_code == 200 and response.json() == {"success": True}
    person = await readback.person("42")
    assert person["identified"] is True and person["properties"] == {"plan": "pro"}


async def test_raw_endpoints_short_aliases_write_key_in_body_and_skew(http, project, readback):
    key = project.write_key
    # writeKey in the body instead of Basic auth (analytics.js sends text/plain to skip a preflight).
    body = orjson.dumps({"writeKey": key, "userId": "kim", "event": "Short Path", "messageId": "short-1"})
    response = await http.post("/v1/t", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    # The device clock is a day fast: sentAt says so, and the timestamp is corrected by the gap.
    skewed = {"userId": "kim", "event": "Skewed", "timestamp": "2024-03-02T12:00:00Z",
              "sentAt": "2024-03-02T12:00:00Z", "messageId": "skew-1"}
    response = await http.post("/v1/track", json=skewed, headers=basic(key))
    assert response.status_code == 200
    for path, message in (("/v1/p", {"userId": "kim", "name": "Home"}),
                          ("/v1/screen", {"userId": "kim", "name": "Settings"}),
                          ("/v1/group", {"userId": "kim", "groupId": "acme"}),
                          ("/v1/i", {"userId": "kim", "traits": {"tier": "gold"}})):
        response = await http.post(path, json=message, headers=basic(key))
        assert response.status_code == 200, (path, response.text)
    person = await readback.person("kim")
    events = {e["name"]: e for e in person["events"]["nodes"]}
    assert set(events) == {"Short Path", "Skewed", "Viewed Page", "Viewed Screen"}
    assert events["Viewed Screen"]["properties"] == {"name": "Settings"}
    # Corrected to about the receive time: far from the day-ahead timestamp sent.
    assert not events["Skewed"]["timestamp"].startswith("2024-03-02")
    assert person["properties"] == {"tier": "gold"}


async def test_gzip_batch_is_all_or_nothing(http, project, readback):
    good = [{"type": "track", "userId": f"v{i}", "event": "Fine", "messageId": f"ok-{i}"} for i in range(5)]
    bad = {"type": "track", "userId": "v9", "event": "Broken", "properties": {"Revenue": "lots"}}
    links = {"type": "identify", "anonymousId": "anon-v", "userId": "v0", "traits": {"x": 1}}
    payload = {"batch": [links, *good, bad], "sentAt": datetime.now(timezone.utc).isoformat()}
    response = await http.post("/v1/batch", content=gzip.compress(orjson.dumps(payload)),
                               headers={**basic(project.write_key), "Content-Encoding": "gzip",
                                        "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["field"] == "batch[6].properties.Revenue"
    await readback.assert_empty()  # not the identify, not the good events

    payload["batch"].pop()
    response = await http.post("/v1/import", content=gzip.compress(orjson.dumps(payload)),
                               headers={**basic(project.write_key), "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(await readback.events()) == 5
    assert sorted((await readback.person("anon-v"))["identities"]) == ["anon-v", "v0"]


async def test_official_client_reports_a_refusal(server, project, readback):
    client = segment_client(server, project.write_key)
    from segment.analytics.request import APIError

    def send():
        with pytest.raises(APIError) as caught:
            client.track(user_id="null-ish", event="x" * 300)
        return caught.value

    error = await asyncio.to_thread(send)
    assert error.status == 400 and error.code == "BAD_USER_INPUT"
    assert "batch[0].event" in error.message
    await readback.assert_empty()

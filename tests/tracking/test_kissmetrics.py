"""The Kissmetrics endpoints /e /s /a: the official py-kissmetrics client,
unchanged, against a real uvicorn; then what it sent, read back over GraphQL."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from urllib.parse import urlsplit

import KISSmetrics
import pytest

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def km_client(server: str, key: str) -> KISSmetrics.Client:
    return KISSmetrics.Client(key, trk_host=urlsplit(server).netloc, trk_scheme="http")


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


async def test_official_client_records_sets_and_aliases(server, project, readback):
    client = km_client(server, project.write_key)

    def send():
        answers = [
            client.record("anon-1", "Viewed Pricing", {"Plan": "Pro", "Seats": 3}),
            client.record("anon-1", "Signed Up", {"Revenue": "49.99"}, timestamp=T0),
            client.set("anon-1", {"Company": "Acme", "Employees": 12}),
            client.record("bob@example.com", "Logged In", timestamp=T0 + 60),
            client.alias("anon-1", "bob@example.com"),
        ]
        return [(a.status, a.headers.get("Content-Type"), a.data) for a in answers]

    for status, content_type, data in await asyncio.to_thread(send):
        assert status == 200
        assert content_type == "image/gif" and data.startswith(b"GIF89a")

    person = await readback.person("bob@example.com")
    assert sorted(person["identities"]) == ["anon-1", "bob@example.com"]
    assert person["identified"] is True
    # Every parameter but _k _p _n _t _d is a property, kept as a string.
    assert person["properties"] == {"Company": "Acme", "Employees": "12"}
    events = {e["name"]: e for e in person["events"]["nodes"]}
    assert set(events) == {"Viewed Pricing", "Signed Up", "Logged In"}
    assert events["Viewed Pricing"]["properties"] == {"Plan": "Pro", "Seats": "3"}
    assert events["Signed Up"]["properties"] == {"Revenue": "49.99"}
    assert events["Signed Up"]["revenue"] == "49.99"
    assert events["Signed Up"]["timestamp"] == iso(T0)  # _t with _d=1 is the event time
    assert events["Logged In"]["timestamp"] == iso(T0 + 60)
    assert person["lifetimeRevenue"] == "49.99"


async def test_same_identity_name_and_time_is_stored_once(server, project, readback):
    client = km_client(server, project.write_key)

    def send():
        for _ in range(3):
            assert client.record("carol", "Downloaded", {"File": "a.pdf"}, timestamp=T0).status == 200
        # Another second, or another name: a different event.
        assert client.record("carol", "Downloaded", {"File": "a.pdf"}, timestamp=T0 + 1).status == 200
        assert client.record("carol", "Opened", timestamp=T0).status == 200

    await asyncio.to_thread(send)
    names = sorted((e["name"], e["timestamp"]) for e in await readback.events())
    assert names == [("Downloaded", iso(T0)), ("Downloaded", iso(T0 + 1)), ("Opened", iso(T0))]


async def test_without_d_flag_every_hit_is_an_event_at_received_time(http, project, readback):
    for _ in range(2):
        response = await http.get("/e", params={"_k": project.write_key, "_p": "dan", "_n": "Ping", "_t": str(T0)})
        assert response.status_code == 200
    events = await readback.events()
    assert [e["name"] for e in events] == ["Ping", "Ping"]
    assert all(e["timestamp"] != iso(T0) for e in events)  # _t without _d=1 is not the time
    assert all(e["properties"] == {} for e in events)


async def test_form_posts_text_plain_beacons_and_read_key(http, project, readback):
    form = {"_k": project.write_key, "_p": "erin", "_n": "Clicked Buy", "_t": str(T0), "_d": "1",
            "Button": "Buy now", "Note": "naïve ✓ & = +"}
    response = await http.post("/e", data=form)
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    # sendBeacon with a string body sends text/plain: the body is still a form.
    body = "_k={}&_p=erin&_n=Beacon&_t={}&_d=1&Where=footer".format(project.write_key, T0)
    response = await http.post("/e", content=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert response.status_code == 200
    # The key in the query string, the rest in the body; the read key is accepted too.
    response = await http.post(f"/s?_k={project.read_key}", data={"_p": "erin", "Plan": "Team"})
    assert response.status_code == 200

    person = await readback.person("erin")
    events = {e["name"]: e["properties"] for e in person["events"]["nodes"]}
    assert events == {"Clicked Buy": {"Button": "Buy now", "Note": "naïve ✓ & = +"}, "Beacon": {"Where": "footer"}}
    assert person["properties"] == {"Plan": "Team"}


async def test_set_uses_client_time_and_latest_wins(http, project, readback):
    key = project.write_key
    # Sent out of order: the value with the later _t is the current one.
    for plan, t in (("Enterprise", T0 + 100), ("Free", T0)):
        response = await http.get("/s", params={"_k": key, "_p": "fay", "Plan": plan, "_t": str(t), "_d": "1"})
        assert response.status_code == 200
    person = await readback.person("fay")
    assert person["properties"] == {"Plan": "Enterprise"}
    history = await readback.history("fay", "Plan")
    assert [(h["value"], h["at"]) for h in history] == [("Free", iso(T0)), ("Enterprise", iso(T0 + 100))]


async def test_alias_merges_two_unidentified_people_but_not_two_identified(http, project, readback):
    key = project.write_key
    for identity, name in (("gus-anon", "A"), ("gus-device", "B")):
        assert (await http.get("/e", params={"_k": key, "_p": identity, "_n": name})).status_code == 200
    assert (await http.get("/a", params={"_k": key, "_p": "gus-anon", "_n": "gus-device"})).status_code == 200
    merged = await readback.person("gus-device")
    assert sorted(merged["identities"]) == ["gus-anon", "gus-device"]
    assert sorted(e["name"] for e in merged["events"]["nodes"]) == ["A", "B"]

    # Two identified people are merged only with force (read key, GraphQL): /a never forces.
    assert (await http.get("/a", params={"_k": key, "_p": "hal", "_n": "hal@example.com"})).status_code == 200
    assert (await http.get("/a", params={"_k": key, "_p": "gus-anon", "_n": "hal"})).status_code == 200
    assert (await readback.person("hal"))["id"] != (await readback.person("gus-anon"))["id"]


async def test_cors_preflight_head_and_tracker_script(http, project, readback):
    response = await http.options("/e", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type"

    ok = await http.get("/e", params={"_k": project.write_key, "_p": "ivy", "_n": "Seen"})
    assert ok.headers["access-control-allow-origin"] == "*"
    assert "no-store" in ok.headers["cache-control"]
    bad = await http.get("/e", params={"_k": project.write_key, "_p": "ivy"})
    assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == "*"

    # A HEAD (link checkers, prefetch) answers but records nothing.
    head = await http.head("/e", params={"_k": project.write_key, "_p": "ivy", "_n": "Head"})
    assert head.status_code == 200
    assert [e["name"] for e in await readback.events()] == ["Seen"]

    script = await http.get("/km.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert script.headers["cache-control"] == "public, max-age=3600"
    assert script.headers["access-control-allow-origin"] == "*"
    assert b"_kmq" in script.content
    again = await http.get("/km.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304


async def test_concurrent_hits_are_all_committed(http, project, readback):
    async def hit(i: int):
        response = await http.get("/e", params={"_k": project.write_key, "_p": f"u{i % 5}", "_n": "Burst",
                                                "_t": str(T0 + i), "_d": "1"})
        assert response.status_code == 200

    await asyncio.gather(*(hit(i) for i in range(60)))
    assert len(await readback.events()) == 60


@pytest.mark.parametrize("path", ["/e", "/s", "/a"])
async def test_other_projects_key_writes_into_its_own_project(http, project, other_project, readback, path):
    params = {"_k": other_project.write_key, "_p": "jay", "_n": "jay2", "Plan": "x"}
    assert (await http.get(path, params=params)).status_code == 200
    await readback.assert_empty()

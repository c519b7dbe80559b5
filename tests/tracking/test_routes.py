"""The tracking paths are answered in front of Starlette (app/tracking/routes.py):
methods they do not take get 405 with Allow, HEAD gets headers without a body,
every other path still reaches the Starlette application, and each request
still gets its request id."""
from __future__ import annotations


async def test_a_method_a_path_does_not_take_is_405_with_allow(http, project):
    put = await http.put("/e", params={"_k": project.write_key, "_p": "u", "_n": "Seen"})
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    get = await http.get("/v1/track")
    assert get.status_code == 405 and get.headers["allow"] == "OPTIONS, POST"


async def test_head_of_the_tracker_has_its_headers_and_no_body(http):
    head = await http.head("/km.js")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("application/javascript")
    assert int(head.headers["content-length"]) > 1000


async def test_other_paths_reach_the_application(http):
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/e/more")).status_code == 404
    assert (await http.get("/v1")).status_code == 404


async def test_tracking_answers_carry_a_request_id(http, project):
    ok = await http.get("/e", params={"_k": project.write_key, "_p": "u", "_n": "Seen"})
    bad = await http.get("/e", params={"_k": project.write_key, "_p": "u"})
    assert ok.status_code == 200 and bad.status_code == 400
    ids = {ok.headers["x-request-id"], bad.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 16 for i in ids)

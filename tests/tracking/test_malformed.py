"""Malformed tracking requests of every kind: each gets its 4xx with a JSON body
naming the field, and nothing at all is stored."""
from __future__ import annotations

import base64
import gzip
import time

import orjson
import pytest

NOW = int(time.time())
GOOD_T = "1700000000"


def km(path: str, **params) -> dict:
    """A Kissmetrics GET; `key` stands for the project's write key."""
    return {"method": "GET", "url": path, "params": params}


def km_post(path: str, content: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict:
    return {"method": "POST", "url": path, "content": content, "headers": {"Content-Type": content_type}}


def seg(path: str, body, *, encoding: str | None = None, auth: bool = True) -> dict:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if encoding:
        headers["Content-Encoding"] = encoding
    if auth:
        headers["Authorization"] = "key"
    return {"method": "POST", "url": path, "content": content, "headers": headers}


def e(**params) -> dict:
    return km("/e", _k="key", **params)


KISSMETRICS_CASES = [
    ("no key", km("/e", _p="a", _n="b"), 401, "_k"),
    ("unknown key", km("/e", _k="wk_nope", _p="a", _n="b"), 401, "_k"),
    ("no name", e(_p="a"), 400, "_n"),
    ("blank name", e(_p="a", _n=""), 400, "_n"),
    ("no identity", e(_n="b"), 400, "_p"),
    ("blank identity", e(_p="   ", _n="b"), 400, "_p"),
    ("identity too long", e(_p="x" * 256, _n="b"), 400, "_p"),
    ("name too long", e(_p="a", _n="n" * 256), 400, "_n"),
    ("time not a number", e(_p="a", _n="b", _t="yesterday", _d="1"), 400, "_t"),
    ("time in milliseconds", e(_p="a", _n="b", _t=str(NOW * 1000), _d="1"), 400, "_t"),
    ("time before 2000", e(_p="a", _n="b", _t="946684799", _d="1"), 400, "_t"),
    ("time two days ahead", e(_p="a", _n="b", _t=str(NOW + 2 * 86400), _d="1"), 400, "_t"),
    ("negative time", e(_p="a", _n="b", _t="-5", _d="1"), 400, "_t"),
    ("_d=1 without _t", e(_p="a", _n="b", _d="1"), 400, "_t"),
    ("bad Revenue", e(_p="a", _n="b", Revenue="lots"), 400, "Revenue"),
    ("infinite Revenue", e(_p="a", _n="b", Revenue="Infinity"), 400, "Revenue"),
    ("NUL in a property", e(_p="a", _n="b", Note="x\x00y"), 400, "Note"),
    ("NUL in the name", e(_p="a", _n="b\x00"), 400, "_n"),
    ("NUL in the identity", e(_p="a\x00", _n="b"), 400, "_p"),
    ("too many properties", e(_p="a", _n="b", **{f"p{i}": "v" for i in range(256)}), 400, "properties"),
    ("property name too long", e(_p="a", _n="b", **{"k" * 256: "v"}), 400, "properties"),
    ("event over 32 KiB", km_post("/e", b"_k=key&_p=a&_n=b&Big=" + b"x" * 40_000), 400, "properties"),
    ("body over the cap", km_post("/e", b"_k=key&_p=a&_n=b&Big=" + b"x" * 200_000), 413, "body"),
    ("non-UTF-8 in the query", {"method": "GET", "url": "/e?_k=key&_p=a&_n=b&Note=%FF%FE"}, 400, "Note"),
    ("non-UTF-8 in the body", km_post("/e", b"_k=key&_p=a&_n=%C3%28"), 400, "_n"),
    ("raw non-UTF-8 body bytes", km_post("/e", b"_k=key&_p=a&_n=b&\xff=1", "text/plain"), 400, "body"),
    ("JSON body", km_post("/e", b'{"_p": "a"}', "application/json"), 415, "Content-Type"),
    ("set without properties", km("/s", _k="key", _p="a"), 400, "properties"),
    ("set without identity", km("/s", _k="key", Plan="x"), 400, "_p"),
    ("set with a bad time", km("/s", _k="key", _p="a", Plan="x", _t="soon", _d="1"), 400, "_t"),
    ("alias without the other identity", km("/a", _k="key", _p="a"), 400, "_n"),
    ("alias to a refused identity", km("/a", _k="key", _p="a", _n="undefined"), 400, "_n"),
    ("alias from a refused identity", km("/a", _k="key", _p="NULL", _n="b"), 400, "_p"),
]

OK = {"userId": "u", "event": "e"}

SEGMENT_CASES = [
    ("no key", seg("/v1/track", OK, auth=False), 401, "writeKey"),
    ("unknown key", {**seg("/v1/track", OK, auth=False), "headers": {"Authorization": "Basic " + base64.b64encode(b"wk_nope:").decode()}}, 401, "writeKey"),
    ("not JSON", seg("/v1/track", b"{oops"), 400, "body"),
    ("non-UTF-8 JSON", seg("/v1/track", b'{"userId": "u", "event": "\xff"}'), 400, "body"),
    ("lone surrogate", seg("/v1/track", b'{"userId": "u", "event": "\\ud800"}'), 400, "body"),
    ("not an object", seg("/v1/track", [1, 2]), 400, "body"),
    ("no event", seg("/v1/track", {"userId": "u"}), 400, "event"),
    ("no ids", seg("/v1/track", {"event": "e"}), 400, "userId"),
    ("id not a string", seg("/v1/track", {"userId": {"a": 1}, "event": "e"}), 400, "userId"),
    ("bad timestamp", seg("/v1/track", {**OK, "timestamp": "yesterday"}), 400, "timestamp"),
    ("timestamp before 2000", seg("/v1/track", {**OK, "timestamp": "1999-12-31T23:59:59Z"}), 400, "timestamp"),
    ("numeric timestamp", seg("/v1/track", {**OK, "timestamp": 1700000000}), 400, "timestamp"),
    ("bad sentAt", seg("/v1/track", {**OK, "timestamp": "2024-01-01T00:00:00Z", "sentAt": "later"}), 400, "sentAt"),
    ("properties not an object", seg("/v1/track", {**OK, "properties": [1]}), 400, "properties"),
    ("bad Revenue", seg("/v1/track", {**OK, "properties": {"Revenue": "lots"}}), 400, "properties.Revenue"),
    ("bad revenue", seg("/v1/track", {**OK, "properties": {"revenue": "lots"}}), 400, "properties.revenue"),
    ("boolean Revenue", seg("/v1/track", {**OK, "properties": {"Revenue": True}}), 400, "properties.Revenue"),
    ("NUL in the event", seg("/v1/track", {"userId": "u", "event": "e\u0000"}), 400, "event"),
    ("NUL in a property", seg("/v1/track", {**OK, "properties": {"a": "\u0000"}}), 400, "properties"),
    ("messageId too long", seg("/v1/track", {**OK, "messageId": "m" * 300}), 400, "messageId"),
    ("messageId not a string", seg("/v1/track", {**OK, "messageId": 7}), 400, "messageId"),
    ("message over 32 KiB", seg("/v1/track", {**OK, "properties": {"big": "x" * 40_000}}), 400, "body"),
    ("traits not an object", seg("/v1/identify", {"userId": "u", "traits": "vip"}), 400, "traits"),
    ("NUL in traits", seg("/v1/identify", {"userId": "u", "traits": {"a\u0000": 1}}), 400, "traits"),
    ("identify a refused user id", seg("/v1/identify", {"anonymousId": "a", "userId": "undefined"}), 400, "userId"),
    ("alias without previousId", seg("/v1/alias", {"userId": "u"}), 400, "previousId"),
    ("alias without userId", seg("/v1/alias", {"previousId": "p"}), 400, "userId"),
    ("page name not a string", seg("/v1/page", {"userId": "u", "name": 5}), 400, "name"),
    ("batch not a list", seg("/v1/batch", {"batch": {"a": 1}}), 400, "batch"),
    ("batch message not an object", seg("/v1/batch", {"batch": [{"type": "track", **OK}, "x"]}), 400, "batch[1]"),
    ("unknown type in a batch", seg("/v1/batch", {"batch": [{"type": "shout", **OK}]}), 400, "batch[0].type"),
    ("big message in a batch", seg("/v1/batch", {"batch": [{"type": "track", **OK, "properties": {"b": "x" * 40_000}}]}), 400, "batch[0]"),
    ("second message bad", seg("/v1/batch", {"batch": [{"type": "track", **OK}, {"type": "track", "userId": "u"}]}), 400, "batch[1].event"),
    ("batch over 500 KiB", seg("/v1/batch", {"batch": [{"type": "track", **OK, "properties": {"b": "x" * 30_000}}] * 20}), 413, "body"),
    ("broken gzip", seg("/v1/track", b"\x1f\x8b\x08\x00garbage", encoding="gzip"), 400, "body"),
    ("truncated gzip", seg("/v1/track", gzip.compress(orjson.dumps(OK))[:-8], encoding="gzip"), 400, "body"),
    ("gzip bomb", seg("/v1/batch", gzip.compress(b" " * 5_000_000), encoding="gzip"), 413, "body"),
    ("brotli", seg("/v1/track", b"\x00", encoding="br"), 415, "Content-Encoding"),
]


async def _send(http, project, request: dict):
    request = dict(request)
    key = project.write_key
    if "params" in request:
        request["params"] = {k: (key if v == "key" else v) for k, v in request["params"].items()}
    if "content" in request:
        request["content"] = request["content"].replace(b"_k=key", f"_k={key}".encode())
    if request.get("headers", {}).get("Authorization") == "key":
        request["headers"] = {**request["headers"], "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    if request["url"].startswith("/e?"):
        request["url"] = request["url"].replace("_k=key", f"_k={key}")
    return await http.request(**request)


@pytest.mark.parametrize("request_, status, field", [c[1:] for c in KISSMETRICS_CASES + SEGMENT_CASES],
                         ids=[f"{'km' if i < len(KISSMETRICS_CASES) else 'segment'}: {c[0]}"
                              for i, c in enumerate(KISSMETRICS_CASES + SEGMENT_CASES)])
async def test_refused_with_the_field_named_and_nothing_stored(http, project, readback, request_, status, field):
    response = await _send(http, project, request_)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["field"] == field, body
    assert body["error"] and body["code"]
    await readback.assert_empty()


async def test_database_down_is_503_with_retry_after(database_url, settings):
    """The tracking routes under a real uvicorn whose database pool is gone."""
    import asyncio
    import contextlib
    import socket

    import httpx
    import uvicorn
    from starlette.applications import Starlette

    from app.http import RequestLog
    from app.services import Services
    from app.storage.pool import create_pool
    from app.tracking.routes import TrackingRoutes

    @contextlib.asynccontextmanager
    async def lifespan(app):
        pool = await create_pool(database_url, min_size=1, max_size=2)
        services = Services.build(settings, pool)
        services.start()
        await pool.close()  # the database is now out of reach
        yield {"services": services}
        await services.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = RequestLog(TrackingRoutes(Starlette(lifespan=lifespan)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            km_answer = await client.get("/e", params={"_k": "wk_any", "_p": "a", "_n": "b"})
            segment_answer = await client.post("/v1/track", json={"writeKey": "wk_any", **OK})
    finally:
        server.should_exit = True
        await task
    for answer in (km_answer, segment_answer):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["code"] == "UNAVAILABLE"


def test_unexpected_errors_are_masked_with_the_request_id():
    from starlette.requests import Request

    from app.tracking import responses

    request = Request({"type": "http", "method": "GET", "path": "/v1/track", "headers": [], "query_string": b"",
                       "state": {"request_id": "req-123"}})
    answer = responses.error_response(request, RuntimeError("secret detail"), "writeKey")
    assert answer.status_code == 500
    body = orjson.loads(answer.body)
    assert body["error"] == "Unexpected error." and body["requestId"] == "req-123"
    assert b"secret" not in answer.body

"""ASGI pieces in front of every route: request ids and the per-request log
line, the body-size limit, and bearer-key authentication for /graphql."""
from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Callable, Sequence
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import bearer_token
from .errors import Unauthenticated, Unavailable
from .problems import graphql_http_body, http_headers, problem

log = logging.getLogger("whodid.access")

MAX_GRAPHQL_BODY = 1024 * 1024


async def send_json(send: Send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = orjson.dumps(body)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": payload})


class _RequestIds:
    """Request ids: 16 hex digits, a random per-process prefix and a counter
    (unique without a random draw per request). Renewed in a forked child."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(4).hex()
        self.counter = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFF:08x}"


_request_ids = _RequestIds()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_request_ids.reset)
next_request_id = _request_ids.next


# WHODID_ACCESS_LOG (app/config.py): the least status that gets a line (None: no lines).
ACCESS_LOG_LEVELS = {"all": 0, "errors": 400, "off": None}


class RequestLog:
    """Gives each request an id (X-Request-Id) and logs one line when it ends:
    request id, project, method, route, status, duration. `access_log`
    ("all", "errors", "off") says which requests get the line; the metrics
    observer sees every request whatever it says."""

    def __init__(self, app: ASGIApp, observer: Callable[[str, str, int, float], None] | None = None,
                 access_log: str = "all"):
        self.app = app
        self.observer = observer
        self.least_logged_status = ACCESS_LOG_LEVELS[access_log]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        request_id = next_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            status = status or 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            principal = scope["state"].get("principal")
            project = principal.project_name if principal else "-"
            route = scope.get("path", "")
            least = self.least_logged_status
            if least is not None and (status or 101) >= least and log.isEnabledFor(logging.INFO):
                # log.info without its caller lookup (the line names no caller).
                log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "request", None, None, None, {
                    "request_id": request_id, "project": project, "method": scope.get("method", "WS"),
                    "route": route, "status": status or 101, "duration_ms": round(elapsed * 1000, 2),
                }))
            if self.observer:
                self.observer(route, scope.get("method", "WS"), status or 101, elapsed)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        chunks.append(body)
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class AuthenticatedGraphQL:
    """Bearer-key authentication and the body limit for GraphQL over HTTP.
    GraphiQL (a GET without a query or extensions) is served to anyone; WebSocket
    connections authenticate in connection_init (the view's on_ws_connect)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_GRAPHQL_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["method"] == "GET" and "query" not in query and "extensions" not in query:
            return await self.app(scope, receive, send)
        if scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        if length > self.max_body:
            return await send_json(send, 413, {"errors": [{"message": "request body larger than 1 MiB",
                                                          "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]})
        body = await read_body(receive, self.max_body)
        if body is None:
            return await send_json(send, 413, {"errors": [{"message": "request body larger than 1 MiB",
                                                          "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]})
        services = state["services"]
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        try:
            state["principal"] = await services.auth.authorize(token)
        except Exception as exc:
            error = problem(exc)
            if not isinstance(error, (Unauthenticated, Unavailable)):
                raise
            return await send_json(send, error.status, graphql_http_body(error), [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in http_headers(error, challenge=True).items()
            ])
        await self.app(scope, replay(body), send)


"""Live-events test helpers: a WebSocket GraphQL client for both protocols,
whodid servers in subprocesses, and an in-process server whose services the
tests can inspect (the bus's subscribers and queues). The fixtures are in
tests/live/conftest.py."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.support.database import free_port

ROOT = Path(__file__).resolve().parents[2]
WHODID = [sys.executable, "-m", "app"]

EVENT_FIELDS = "id name personId identity properties revenue timestamp receivedAt"
LIVE_QUERY = f"subscription Live($where: LiveEventFilter) {{ liveEvents(where: $where) {{ {EVENT_FIELDS} }} }}"
RECORD_EVENTS = "mutation($input: [RecordEventInput!]!) { recordEvents(input: $input) { accepted duplicates } }"
RECORD_EVENT = (
    "mutation($input: RecordEventInput!) { recordEvent(input: $input) "
    f"{{ duplicate event {{ {EVENT_FIELDS} }} }} }}"
)
IDENTIFY = "mutation($a: String!, $u: String!) { identify(input: {anonymousId: $a, userId: $u}) { outcome person { id } } }"

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class Refused(Exception):
    def __init__(self, code: int | None, reason: str = "", payload: Any = None):
        super().__init__(f"refused: code={code} reason={reason!r} payload={payload!r}")
        self.code = code
        self.reason = reason
        self.payload = payload


class LiveClient:
    """A minimal GraphQL-over-WebSocket client speaking graphql-transport-ws
    or the legacy graphql-ws protocol, one subscription at a time."""

    def __init__(self, ws, protocol: str):
        self.ws = ws
        self.protocol = protocol
        self.op = 0
        self.current: str | None = None

    @classmethod
    async def connect(cls, base_url: str, key: str | None, *, protocol: str = TRANSPORT_WS,
                      payload: dict | None = None, **kwargs) -> "LiveClient":
        url = base_url.replace("http://", "ws://") + "/graphql"
        # Unbounded client-side buffering (the test reads at its own pace)
        # unless a test asks for backpressure with max_queue.
        kwargs.setdefault("max_queue", None)
        kwargs.setdefault("close_timeout", 2)
        ws = await websockets.connect(url, subprotocols=[protocol], open_timeout=10, **kwargs)
        client = cls(ws, protocol)
        init = payload if payload is not None else ({"authorization": f"Bearer {key}"} if key else {})
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        try:
            while True:
                raw = await asyncio.wait_for(ws.recv(), 10)
                assert isinstance(raw, str), "the protocols are JSON text frames"
                message = json.loads(raw)
                if message["type"] == "connection_ack":
                    return client
                if message["type"] == "connection_error":
                    code = None
                    try:
                        await asyncio.wait_for(ws.wait_closed(), 5)
                        code = ws.close_code
                    except asyncio.TimeoutError:
                        pass
                    raise Refused(code, payload=message.get("payload"))
                if message["type"] == "ka":
                    continue
        except websockets.ConnectionClosed as exc:
            await ws.close()
            raise Refused(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "") from None

    async def subscribe(self, where: dict | None = None, query: str = LIVE_QUERY) -> str:
        self.op += 1
        self.current = str(self.op)
        payload = {"query": query, "variables": {"where": where}}
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.ws.send(json.dumps({"id": self.current, "type": kind, "payload": payload}))
        return self.current

    async def unsubscribe(self) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.ws.send(json.dumps({"id": self.current, "type": kind}))

    async def next_payload(self, timeout: float = 10.0) -> dict:
        """The next result payload ({data, errors?, extensions?}) of the current operation."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise asyncio.TimeoutError("no live event arrived")
            raw = await asyncio.wait_for(self.ws.recv(), left)
            assert isinstance(raw, str), "the protocols are JSON text frames (browsers cannot parse binary ones)"
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message.get("id") != self.current:
                continue
            if kind in ("next", "data"):
                return message["payload"]
            if kind == "error":
                raise AssertionError(f"subscription error: {message.get('payload')}")
            if kind == "complete":
                raise AssertionError("subscription completed")

    async def next_event(self, timeout: float = 10.0) -> dict:
        payload = await self.next_payload(timeout)
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]["liveEvents"]

    async def events(self, count: int, timeout: float = 15.0) -> list[dict]:
        return [await self.next_event(timeout) for _ in range(count)]

    async def nothing_within(self, seconds: float) -> None:
        """Assert that no result arrives within `seconds`."""
        try:
            payload = await self.next_payload(seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected live event: {payload}")

    async def close(self) -> None:
        await self.ws.close()


async def gql(base_url: str, key: str, query: str, variables: dict | None = None, *,
              client: httpx.AsyncClient | None = None, retries: int = 0) -> dict:
    """POST a GraphQL operation; returns `data` (fails on errors). UNAVAILABLE
    answers are retried `retries` times (after a database restart)."""
    for attempt in range(retries + 1):
        if client is None:
            async with httpx.AsyncClient(timeout=30) as fresh:
                response = await fresh.post(f"{base_url}/graphql", json={"query": query, "variables": variables or {}},
                                            headers={"Authorization": f"Bearer {key}"})
        else:
            response = await client.post(f"{base_url}/graphql", json={"query": query, "variables": variables or {}},
                                         headers={"Authorization": f"Bearer {key}"})
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        errors = body.get("errors")
        unavailable = response.status_code == 503 or (
            errors and any((e.get("extensions") or {}).get("code") == "UNAVAILABLE" for e in errors)
        )
        if unavailable and attempt < retries:
            await asyncio.sleep(0.25)
            continue
        assert response.status_code == 200, response.text
        assert not errors, errors
        return body["data"]
    raise AssertionError("unreachable")


async def record(base_url: str, key: str, identity: str, name: str, properties: dict | None = None, **kwargs) -> dict:
    data = await gql(base_url, key, RECORD_EVENT,
                     {"input": {"identity": identity, "name": name, "properties": properties or {}}}, **kwargs)
    return data["recordEvent"]["event"]


async def stats(base_url: str, read_key: str) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{base_url}/live/stats", headers={"Authorization": f"Bearer {read_key}"})
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Poll `check` (sync or async) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(interval)


# ---- servers in subprocesses ----

class ServerProcess:
    """`whodid serve` in its own process group, on a loopback port."""

    def __init__(self, database_url: str, *, workers: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="whodid-live-", suffix=".log", delete=False)
        environment = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [*WHODID, "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    async def ready(self, timeout: float = 30.0) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"whodid serve exited: {self.output()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"whodid serve did not start: {self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.log.close()
        os.unlink(self.log.name)


async def start_servers(database_url: str, count: int, **kwargs) -> list[ServerProcess]:
    servers = [ServerProcess(database_url, **kwargs) for _ in range(count)]
    try:
        await asyncio.gather(*(s.ready() for s in servers))
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


# ---- an in-process server whose services the test can see ----

class _CaptureState:
    """ASGI wrapper that keeps the lifespan state (it holds the Services)."""

    def __init__(self, app):
        self.app = app
        self.state: dict | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            self.state = scope.setdefault("state", {})
        return await self.app(scope, receive, send)


class InProcessServer:
    def __init__(self, url: str, capture: _CaptureState):
        self.url = url
        self._capture = capture

    @property
    def services(self):
        return self._capture.state["services"]

    @property
    def bus(self):
        return self.services.live

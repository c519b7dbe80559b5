"""Subscriptions on their own workers (Settings.role, `whodid serve --role`):
a "live" server serves GraphQL over WebSocket and the live routes only, an
"api" server everything but GraphQL over WebSocket; events written through
the api server reach the live server's subscribers (the NOTIFY after commit)."""
from __future__ import annotations

import httpx
import pytest
import websockets

from app.config import Settings
from app.server import create_app
from tests.support.live import (
    InProcessServer, LiveClient, Refused, _CaptureState, eventually, record, stats,
)
from tests.support.server import make_project, serving


async def test_a_live_server_takes_the_subscriptions_an_api_server_the_rest(database_url):
    live_app = _CaptureState(create_app(Settings(role="live"), dsn=database_url))
    api_app = _CaptureState(create_app(Settings(role="api"), dsn=database_url))
    async with serving(live_app) as live_url, serving(api_app) as api_url:
        live, api = InProcessServer(live_url, live_app), InProcessServer(api_url, api_app)
        keys = await make_project(api.services, "roles")
        async with httpx.AsyncClient(timeout=10) as http:
            # The live server: no GraphQL over HTTP, no tracking, no dashboard.
            assert (await http.post(f"{live_url}/graphql", json={"query": "{ __typename }"},
                                    headers={"Authorization": f"Bearer {keys.write_key}"})).status_code == 404
            assert (await http.get(f"{live_url}/e", params={"_k": keys.write_key, "_p": "a", "_n": "x"})
                    ).status_code == 404
            assert (await http.get(f"{live_url}/dashboard")).status_code == 404
            for path in ("/healthz", "/readyz", "/live"):
                assert (await http.get(f"{live_url}{path}")).status_code == 200, path
            # The api server: everything else, but no live page or stats.
            assert (await http.get(f"{api_url}/live")).status_code == 404
            assert (await http.get(f"{api_url}/healthz")).status_code == 200

        # The api server refuses the WebSocket upgrade; the live server serves it.
        with pytest.raises((Refused, websockets.InvalidStatus, websockets.ConnectionClosed)):
            client = await LiveClient.connect(api_url, keys.read_key)
            await client.close()
        client = await LiveClient.connect(live_url, keys.read_key)
        try:
            await client.subscribe()
            await eventually(lambda: live.bus.subscriber_count(keys.id) == 1)
            assert api.bus.subscriber_count(keys.id) == 0
            sent = [await record(api_url, keys.write_key, "role-person", f"Step {i}", {"i": i}) for i in range(3)]
            assert await client.events(3) == sent  # the first through Strawberry, the rest directly
            assert [s["delivered"] for s in (await stats(live_url, keys.read_key))["subscribers"]] == [3]
        finally:
            await client.close()


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="WHODID_ROLE"):
        Settings(role="subscriptions")

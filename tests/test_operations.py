"""Operations: health, readiness, metrics, request ids and CORS on /graphql."""
from __future__ import annotations

import httpx
import uvicorn

from app.config import Settings
from app.server import create_app
from tests.conftest import free_port


async def test_health_and_readiness(http):
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_every_response_has_a_request_id(http):
    response = await http.get("/healthz")
    assert len(response.headers["x-request-id"]) == 16


async def test_metrics_count_requests_and_writes(http, write_client):
    await write_client('mutation { recordEvent(input: {identity: "m", name: "Metered"}) { duplicate } }')
    await write_client.errors('mutation { recordEvent(input: {identity: "", name: "Metered"}) { duplicate } }')
    text = (await http.get("/metrics")).text
    assert 'whodid_http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert "whodid_events_accepted_total" in text
    assert 'whodid_events_refused_total{transport="graphql"}' in text
    assert "whodid_writer_batch_size_bucket" in text
    assert 'whodid_pool_connections{state="idle"}' in text
    await http.get("/no/such/page/" + "x" * 50)
    assert "/no/such/page" not in (await http.get("/metrics")).text  # unknown paths fold into "other"


async def test_graphql_cors_only_for_configured_origins(database_url):
    settings = Settings(cors_origins=("https://dash.example.com",))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, dsn=database_url), host="127.0.0.1", port=port,
                                           log_level="warning"))
    import asyncio

    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
            allowed = await client.options("/graphql", headers={"Origin": "https://dash.example.com", **preflight})
            assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
            refused = await client.options("/graphql", headers={"Origin": "https://evil.example.com", **preflight})
            assert "access-control-allow-origin" not in refused.headers
    finally:
        server.should_exit = True
        await task

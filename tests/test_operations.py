"""Operations: health, readiness, metrics, request ids, the access log and CORS on /graphql."""
from __future__ import annotations

import logging

import httpx
import pytest

from app.config import Settings
from app.server import create_app
from tests.support.server import serving


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
    async with serving(create_app(settings, dsn=database_url)) as url, httpx.AsyncClient(base_url=url) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await client.options("/graphql", headers={"Origin": "https://dash.example.com", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
        refused = await client.options("/graphql", headers={"Origin": "https://evil.example.com", **preflight})
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("access_log, logged_statuses", [("all", [200, 404]), ("errors", [404]), ("off", [])])
async def test_access_log_lines_by_setting(database_url, caplog, access_log, logged_statuses):
    caplog.set_level(logging.INFO, logger="whodid.access")
    app = create_app(Settings(access_log=access_log), dsn=database_url)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        ok = await client.get("/healthz")
        missing = await client.get("/no/such/page")
        metrics = (await client.get("/metrics")).text
    ids = {ok.headers["x-request-id"]: 200, missing.headers["x-request-id"]: 404}
    lines = [r for r in caplog.records if r.name == "whodid.access" and getattr(r, "request_id", None) in ids]
    assert sorted(r.status for r in lines) == logged_statuses
    assert all(ids[r.request_id] == r.status for r in lines)
    # The metrics count every request, whatever is logged.
    assert 'whodid_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics


def test_an_unknown_access_log_setting_is_refused():
    with pytest.raises(ValueError, match="WHODID_ACCESS_LOG is one of all, errors, off"):
        Settings(access_log="some")

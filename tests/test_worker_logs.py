"""`whodid serve --workers N` logs in its workers too: every worker is a
spawned process, set up by app.server.create_served_app with the same
handler and format as the CLI's own process (before, a worker had no
handler and wrote no access line at all)."""
from __future__ import annotations

import httpx

from tests.support.live import ServerProcess, eventually


async def test_every_request_of_a_multi_worker_server_gets_its_access_line(database_url):
    server = ServerProcess(database_url, workers=2)
    try:
        await server.ready(timeout=60)
        ids = []
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(8):  # new connections: the kernel spreads them over both workers
                response = await client.get("/healthz", headers={"Connection": "close"})
                ids.append(response.headers["x-request-id"])

        def all_logged():
            out = server.output()
            return all(f"request_id={i}" in out for i in ids)

        await eventually(all_logged, timeout=10)
        lines = [line for line in server.output().splitlines() if "whodid.access request" in line]
        assert all("route=/healthz" in line and "status=200" in line for line in lines if "/healthz" in line)
    finally:
        server.stop()

"""A project per test, the app under a real uvicorn on a loopback port, and a
GraphQL client for it."""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import AsyncIterator

import httpx
import uvicorn

from app.auth import ProjectKeys
from app.services import Services
from tests.support.database import free_port


async def make_project(services: Services, prefix: str = "p") -> ProjectKeys:
    return await services.auth.create_project(f"{prefix}-{secrets.token_hex(6)}")


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """`app` under a real uvicorn on a loopback port, in this event loop;
    yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    for _ in range(200):
        if instance.started:
            break
        await asyncio.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        await task


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, key: str | None):
        self.http = http
        self.key = key

    async def raw(self, query: str, variables: dict | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict | None = None) -> dict:
        """The `data` of a successful answer; fails the test on any error."""
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def errors(self, query: str, variables: dict | None = None) -> list[dict]:
        """The errors of an answer that must fail."""
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"]

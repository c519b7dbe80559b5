"""Read-back helpers for the tracking tests: what a project holds, over GraphQL
with its read key (the same API a dashboard uses)."""
from __future__ import annotations

import asyncio
import time

import pytest

PERSON = """
query($identity: String!) {
  person(identity: $identity) {
    id identities identified properties lifetimeRevenue
    events(first: 500) { nodes { name identity properties revenue timestamp } }
  }
}"""

EVERYTHING = """
query {
  events(first: 1000) { nodes { id name identity personId properties revenue timestamp } }
  people(first: 1000) { totalCount nodes { id identities identified properties } }
}"""

HISTORY = """
query($identity: String!, $key: String!) {
  person(identity: $identity) { propertyHistory(key: $key) { key value at } }
}"""


class Readback:
    def __init__(self, read_client):
        self.client = read_client

    async def person(self, identity: str) -> dict | None:
        return (await self.client(PERSON, {"identity": identity}))["person"]

    async def everything(self) -> dict:
        return await self.client(EVERYTHING)

    async def events(self) -> list[dict]:
        return (await self.everything())["events"]["nodes"]

    async def history(self, identity: str, key: str) -> list[dict]:
        return (await self.client(HISTORY, {"identity": identity, "key": key}))["person"]["propertyHistory"]

    async def assert_empty(self) -> None:
        """Nothing at all was stored in the project."""
        data = await self.everything()
        assert data["events"]["nodes"] == []
        assert data["people"]["totalCount"] == 0

    async def until(self, check, what: str, deadline: float = 15.0):
        """Poll `check()` (async, returns a truthy value when done) up to `deadline` seconds."""
        end = time.monotonic() + deadline
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > end:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.1)


@pytest.fixture
def readback(read_client) -> Readback:
    return Readback(read_client)

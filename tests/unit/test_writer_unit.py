"""The group-commit writer with its database step (`_write`) faked: what is
queued together commits together, conflicts retry under the shared policy, a
lost database fails the waiting requests as Unavailable, and a request that
fails alone does not take the others with it."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from app.errors import Unavailable
from app.ingest.retry import FLUSH, Conflict
from app.ingest.writer import PropertyWrite, Writer
from tests.support.fakes import T0

PROJECT = uuid.UUID(int=9)


def write(identity: str) -> PropertyWrite:
    return PropertyWrite(PROJECT, identity, {"k": '"v"'}, T0)


class FakeDatabaseWriter(Writer):
    """`_write` answers each item with its identity, after `failures` raise."""

    def __init__(self, failures: list[Exception] = (), refuse: str | None = None, **kwargs):
        super().__init__(pool=None, **kwargs)
        self.failures = list(failures)
        self.refuse = refuse
        self.batches: list[list[str]] = []

    async def _write(self, batch, stage=None):
        self.batches.append([item.identity for item in batch])
        if self.failures:
            raise self.failures.pop(0)
        if self.refuse is not None and any(item.identity == self.refuse for item in batch):
            raise ValueError(f"cannot store {self.refuse}")
        return [item.identity for item in batch], {PROJECT: len(batch)}


async def submit_all(writer: Writer, identities: list[str]) -> list:
    tasks = [asyncio.create_task(writer.submit(write(i))) for i in identities]
    await asyncio.sleep(0)  # all queued before a flusher runs
    writer.start()
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await writer.close()


async def test_requests_queued_together_commit_in_one_transaction():
    writer = FakeDatabaseWriter(flushers=1)
    grown = []
    writer.growth_observers.append(lambda project, rows: grown.append((project, rows)))
    assert await submit_all(writer, ["a", "b", "c"]) == ["a", "b", "c"]
    assert writer.batches == [["a", "b", "c"]]
    assert grown == [(PROJECT, 3)]


async def test_conflicts_are_retried_then_commit():
    writer = FakeDatabaseWriter([Conflict(), asyncpg.DeadlockDetectedError()], flushers=1)
    assert await submit_all(writer, ["a"]) == ["a"]
    assert len(writer.batches) == 3


async def test_conflicting_past_the_policy_fails_as_unavailable():
    writer = FakeDatabaseWriter([Conflict()] * FLUSH.attempts, flushers=1)
    (result,) = await submit_all(writer, ["a"])
    assert isinstance(result, Unavailable) and len(writer.batches) == FLUSH.attempts


async def test_a_lost_database_fails_the_waiting_requests_as_unavailable():
    writer = FakeDatabaseWriter([asyncpg.ConnectionDoesNotExistError("gone")], flushers=1)
    results = await submit_all(writer, ["a", "b"])
    assert all(isinstance(r, Unavailable) for r in results)


async def test_a_request_that_fails_alone_does_not_fail_the_others():
    writer = FakeDatabaseWriter(refuse="bad", flushers=1)
    ok, bad, also_ok = await submit_all(writer, ["a", "bad", "c"])
    assert (ok, also_ok) == ("a", "c")
    assert isinstance(bad, ValueError)
    assert writer.batches[0] == ["a", "bad", "c"] and ["bad"] in writer.batches[1:]


async def test_a_closing_writer_takes_no_more():
    writer = FakeDatabaseWriter(flushers=1)
    writer.start()
    await writer.close()
    with pytest.raises(Unavailable):
        await writer.submit(write("late"))

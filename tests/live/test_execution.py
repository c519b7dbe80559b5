"""LiveExecutionContext: an event's result is computed once per subscription
signature and shared, and plain leaf selections are completed directly; both
give exactly what Strawberry's own executor gives. No database needed."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import strawberry

from app.auth import Principal, Role
from app.graphql import schema as schema_module
from app.graphql import subscription as live
from app.graphql.view import SocketContext
from app.live.queue import Subscriber
from app.storage.events import EventRow

PROJECT = uuid.uuid4()
NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone.utc)
ROWS = [
    EventRow(uuid.uuid4(), 1, "Signed Up", uuid.uuid4(), "ada", {"Plan": "pro", "n": [1, None]}, None, NOW, NOW),
    EventRow(uuid.uuid4(), 2, "Paid", uuid.uuid4(), "ada", {"Revenue": "9.90"}, Decimal("9.90"), NOW, NOW),
    EventRow(uuid.uuid4(), 3, "Refund", uuid.uuid4(), "bob", {}, Decimal("-1E+2"), NOW, NOW),
]

QUERIES = [
    ("subscription { liveEvents { id name personId identity properties revenue timestamp receivedAt } }", {}),
    ("subscription { liveEvents { name } }", {}),
    ("""subscription S($withIds: Boolean!) {
          e: liveEvents(where: {names: ["Paid"]}) {
            __typename kind: name ...More id @include(if: $withIds) at: timestamp @skip(if: $withIds)
          }
        }
        fragment More on Event { revenue props: properties }""", {"withIds": True}),
    ("""subscription S($withIds: Boolean!) {
          liveEvents { ... on Event { name at: timestamp @skip(if: $withIds) } }
        }""", {"withIds": False}),
]


class FakeBus:
    """Hands every subscription the same rows (as the real bus does)."""

    async def subscribe(self, project_id, names=None, identity=None):
        sub = Subscriber(project_id, capacity=100)
        for row in ROWS:
            sub.offer(row)
        return sub

    def unsubscribe(self, sub):
        sub.close()


class FakeServices:
    live = FakeBus()


async def collect(schema: strawberry.Schema, query: str, variables: dict) -> list:
    context = SocketContext(services=FakeServices(), principal=Principal(PROJECT, "p", Role.READ), request_id="t")
    stream = await schema.subscribe(query, variable_values=variables, context_value=context)
    results = []
    async for result in stream:
        assert not result.errors, result.errors
        results.append(result.data)
        if len(results) == len(ROWS):
            break
    await stream.aclose()
    return results


@pytest.fixture(scope="module")
def plain_schema() -> strawberry.Schema:
    """The same schema with Strawberry's own executor."""
    return strawberry.Schema(
        query=strawberry.tools.merge_types("Query", (schema_module.PeopleQuery, schema_module.ReportsQuery)),
        mutation=schema_module.Mutation,
        subscription=schema_module.Subscription,
    )


@pytest.mark.parametrize("query,variables", QUERIES)
async def test_same_results_as_strawberrys_executor(plain_schema, query, variables):
    live._results.clear()
    expected = await collect(plain_schema, query, variables)
    assert await collect(schema_module.schema, query, variables) == expected
    assert await collect(schema_module.schema, query, variables) == expected  # from the shared results


async def test_the_direct_path_is_taken_and_results_are_shared(monkeypatch):
    live._results.clear()
    calls = []
    original = live.LiveExecutionContext._complete_directly

    def spy(self, event):
        calls.append(event.row.id)
        return original(self, event)

    monkeypatch.setattr(live.LiveExecutionContext, "_complete_directly", spy)
    query, variables = QUERIES[0]
    first = await collect(schema_module.schema, query, variables)
    second = await collect(schema_module.schema, query, variables)
    assert calls == [r.id for r in ROWS]  # once per event, not once per subscriber
    assert all(a is b for a, b in zip(first, second))
    assert first[1]["liveEvents"]["revenue"] == "9.90"
    assert first[0]["liveEvents"]["timestamp"] == NOW.isoformat()


async def test_other_variables_do_not_share(monkeypatch):
    live._results.clear()
    query, _ = QUERIES[2]
    with_ids = await collect(schema_module.schema, query, {"withIds": True})
    without = await collect(schema_module.schema, query, {"withIds": False})
    assert "id" in with_ids[0]["e"] and "at" not in with_ids[0]["e"]
    assert "at" in without[0]["e"] and "id" not in without[0]["e"]

"""The ingest service with a fake writer: the plan is checked before anything
is written, then applied links first, events next, property sets last."""
from __future__ import annotations

import uuid

import pytest

from app.errors import BadInput
from app.ingest.plan import Link, Plan, Record, SetTraits
from app.ingest.service import IngestService
from app.ingest.validation import EventIn
from app.ingest.writer import EventWrite, PropertyWrite
from tests.support.fakes import T0, FakeWriter

PROJECT = uuid.UUID(int=7)


def service(writer: FakeWriter) -> IngestService:
    return IngestService(pool=None, writer=writer, clock=lambda: T0)


async def test_an_event_is_normalised_then_written_once():
    writer = FakeWriter()
    recorded = await service(writer).record_event(PROJECT, EventIn("ann", "Paid", {"Revenue": "9.50"}))
    (write,) = writer.writes
    assert isinstance(write, EventWrite) and write.project_id == PROJECT
    (event,) = write.events
    assert (event.identity, event.name, str(event.revenue)) == ("ann", "Paid", "9.50")
    assert recorded.event.name == "Paid" and not recorded.duplicate


async def test_bad_input_is_refused_before_the_writer_sees_it():
    writer = FakeWriter()
    with pytest.raises(BadInput) as refused:
        await service(writer).record_event(PROJECT, EventIn("ann", "", {}))
    assert refused.value.field == "input.name"
    with pytest.raises(BadInput) as refused:
        await service(writer).set_properties(PROJECT, "ann", {})
    assert refused.value.field == "input.properties"
    assert writer.writes == []


async def test_a_property_set_is_written_as_json_text_at_its_time():
    writer = FakeWriter()
    await service(writer).set_properties(PROJECT, "ann", {"Plan": "pro", "Seats": 3})
    (write,) = writer.writes
    assert isinstance(write, PropertyWrite)
    assert write.values_json == {"Plan": '"pro"', "Seats": "3"} and write.at == T0


class Recording(IngestService):
    """identify/alias recorded instead of linked (they need the database)."""

    def __init__(self, writer: FakeWriter):
        super().__init__(pool=None, writer=writer, clock=lambda: T0)
        self.calls: list[tuple] = []

    async def identify(self, project_id, anonymous_id, user_id):
        self.calls.append(("identify", anonymous_id, user_id))

    async def alias(self, project_id, identity, other, *, force=False):
        self.calls.append(("alias", identity, other))

    async def record_normalised(self, project_id, events):
        self.calls.append(("events", [e.name for e in events]))
        return await super().record_normalised(project_id, events)

    async def set_properties(self, project_id, identity, properties, timestamp=None):
        self.calls.append(("set", identity))


async def test_a_plan_is_applied_links_then_events_then_traits_each_pair_linked_once():
    plan = Plan(
        links=[Link("anon", "ann", alias=False), Link("anon", "ann", alias=False), Link("a", "b", alias=True)],
        records=[Record(EventIn("ann", "Viewed")), Record(EventIn("ann", "Paid"))],
        traits=[SetTraits("ann", {"Plan": "pro"}, None)],
    )
    ingest = Recording(FakeWriter())
    await ingest.apply(PROJECT, plan, plan.check(T0))
    assert ingest.calls == [
        ("identify", "anon", "ann"), ("alias", "a", "b"), ("events", ["Viewed", "Paid"]), ("set", "ann"),
    ]


def test_the_check_names_fields_in_the_protocols_terms_and_writes_nothing():
    plan = Plan(records=[Record(EventIn("ann", "ok")), Record(EventIn("ann", ""), {"input.name": "batch[1].event"})])
    with pytest.raises(BadInput) as refused:
        plan.check(T0)
    assert refused.value.field == "batch[1].event"
    plan = Plan(links=[Link("null", "ann", alias=False, fields={"input.anonymousId": "anonymousId"})])
    with pytest.raises(BadInput) as refused:
        plan.check(T0)
    assert refused.value.field == "anonymousId"


async def test_a_batch_refused_as_a_whole_is_named_by_the_protocol():
    plan = Plan(records=[Record(EventIn("ann", "A"))], batch_field="batch")
    ingest = IngestService(pool=None, writer=FakeWriter(fail=BadInput("input", "too large")), clock=lambda: T0)
    with pytest.raises(BadInput) as refused:
        await ingest.apply(PROJECT, plan, plan.check(T0))
    assert refused.value.field == "batch" and refused.value.message == "batch: too large"

"""The funnel's two ways of computing chains (app/reports/funnel/statement.py) on the cases
that tell them apart, and peopleList of a report cached without its people.

- set-based (all step names differ): a step-k event between the start and the
  previous step needs the index lookup; starts at the same instant are told apart
  by seq; the window makes a later start the chain;
- walked (a repeated name): the PL/pgSQL walk, against the same expectations;
- GraphQL: a report computed without peopleList, then asked for it from the cache.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.ingest.validation import EventIn
from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec, StepStatus, compute_funnel

UTC = timezone.utc
T0 = datetime(2024, 6, 3, tzinfo=UTC)
FROM, TO = T0 - timedelta(days=1), T0 + timedelta(days=30)


def T(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(*steps: str, window: int | None = None, segment: SegmentSpec | None = None) -> FunnelSpec:
    return FunnelSpec(tuple(FunnelStepSpec(s) for s in steps), FROM, TO, window, segment)


async def record(services, project, *events: tuple) -> None:
    """(identity, name, seconds after T0[, properties]), one batch in this order."""
    await services.ingest.record_events(
        project.id, [EventIn(e[0], e[1], e[3] if len(e) > 3 else None, T(e[2])) for e in events]
    )


async def pid(services, project, identity: str) -> uuid.UUID:
    return (await services.people.by_identity(project.id, identity)).id


def people(result) -> list[int]:
    return [s.people for s in result.steps]


async def test_step_event_between_start_and_previous_step_is_skipped(services, project):
    # A(0) C(5) B(10) C(20): from the start, B is at 10; the first C at or after
    # the start (5) is before B, so C is the next one, at 20 (an index lookup).
    await record(services, project, ("p", "A", 0), ("p", "C", 5), ("p", "B", 10), ("p", "C", 20))
    # and one whose only C is before B: it stops at B.
    await record(services, project, ("q", "A", 0), ("q", "C", 5), ("q", "B", 10))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C"))
    assert people(result) == [2, 2, 1]
    assert result.steps[2].time_from_previous.median_seconds == 10.0
    (person, at), = result.people_page(2, StepStatus.REACHED, 10).people
    assert (person, at) == (await pid(services, project, "p"), T(20))
    # With a window the lookup's answer is held to it: 20 s from the start is out.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", window=15))
    assert people(result) == [2, 2, 0]


async def test_later_start_within_the_window_and_its_chain_times(services, project):
    # Starts at 0 and 50; B at 60, C at 70; window 30: only the second start
    # reaches B and C. The chain (and the people lists) are the second start's.
    await record(services, project, ("w", "A", 0), ("w", "A", 50), ("w", "B", 60), ("w", "C", 70))
    for steps in (("A", "B", "C"), ("A", "B", "C", "A")):  # set-based, then walked
        result = await compute_funnel(services.pool, project.id, spec(*steps, window=30))
        assert people(result)[:3] == [1, 1, 1], steps
        assert result.steps[1].time_from_previous.median_seconds == 10.0, steps
        assert result.people_page(0, StepStatus.REACHED, 10).people[0][1] == T(50), steps


async def test_starts_at_the_same_instant_take_the_first_received(services, project):
    # Two starts in the same µs: the chain is the one received first (seq), and
    # the segment is its property — also when it has none and the other has one.
    await record(
        services, project,
        ("x", "A", 0, {"src": "first"}), ("x", "A", 0, {"src": "second"}), ("x", "B", 1),
        ("y", "A", 0), ("y", "A", 0, {"src": "second"}),
    )
    seg = SegmentSpec(first_step_property="src")
    for steps in (("A", "B"), ("A", "B", "A")):  # set-based, then walked
        result = await compute_funnel(services.pool, project.id, spec(*steps, segment=seg))
        got = {s.value: [x.people for x in s.steps][:2] for s in result.segments}
        assert got == {"first": [1, 1], None: [1, 0]}, steps


async def test_no_window_takes_the_earliest_start(services, project):
    await record(services, project, ("e", "A", 0), ("e", "A", 100), ("e", "B", 200), ("e", "C", 300))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C"))
    assert people(result) == [1, 1, 1]
    assert result.steps[1].time_from_previous.median_seconds == 200.0


async def test_without_people_and_people_alone(services, project):
    await record(services, project, ("a", "A", 0), ("a", "B", 1), ("b", "A", 2))
    result = await compute_funnel(services.pool, project.id, spec("A", "B"), with_people=False)
    assert people(result) == [2, 1] and result.people is None
    with pytest.raises(ValueError):
        result.people_page(0)
    full = await compute_funnel(services.pool, project.id, spec("A", "B"))
    assert result.people_page(1, StepStatus.DROPPED, 10, people=full.people).total == 1


FUNNEL_COUNTS = """query($input: FunnelInput!) { funnel(input: $input) {
  computedAt cached steps { people } segments { value steps { people } } } }"""
FUNNEL_LISTS = """query($input: FunnelInput!) { funnel(input: $input) {
  computedAt cached
  steps { people peopleList(first: 10) { totalCount nodes { id } } }
  segments { value steps { peopleList(first: 10) { totalCount nodes { id } } } } } }"""


async def test_people_lists_of_a_report_cached_without_them(read_client, services, project):
    await record(
        services, project,
        ("u1", "A", 0, {"v": "x"}), ("u1", "B", 5), ("u2", "A", 1, {"v": "y"}), ("u3", "A", 2, {"v": "x"}),
    )
    variables = {"input": {
        "steps": [{"event": "A"}, {"event": "B"}], "from": FROM.isoformat(), "to": TO.isoformat(),
        "segmentBy": {"firstStepProperty": "v"},
    }}
    counts = (await read_client(FUNNEL_COUNTS, variables))["funnel"]
    assert counts["cached"] is False and [s["people"] for s in counts["steps"]] == [3, 1]
    # A fourth person arrives; the report stays cached (TTL), its lists are
    # computed now, once, for that report (docs/reports.md: a later snapshot).
    await record(services, project, ("u4", "A", 3, {"v": "x"}), ("u4", "B", 6))
    lists = (await read_client(FUNNEL_LISTS, variables))["funnel"]
    assert lists["cached"] is True and lists["computedAt"] == counts["computedAt"]
    assert [s["people"] for s in lists["steps"]] == [3, 1]
    ids = {i: str(await pid(services, project, i)) for i in ("u1", "u2", "u3", "u4")}
    reached = [[n["id"] for n in s["peopleList"]["nodes"]] for s in lists["steps"]]
    assert reached == [[ids["u1"], ids["u2"], ids["u3"], ids["u4"]], [ids["u1"], ids["u4"]]]
    by_value = {s["value"]: [[n["id"] for n in x["peopleList"]["nodes"]] for x in s["steps"]] for s in lists["segments"]}
    assert by_value == {"x": [[ids["u1"], ids["u3"], ids["u4"]], [ids["u1"], ids["u4"]]], "y": [[ids["u2"]], []]}
    # The same lists again: from the cached people of that report, although a
    # fifth person has arrived meanwhile.
    await record(services, project, ("u5", "A", 4), ("u5", "B", 7))
    again = (await read_client(FUNNEL_LISTS, variables))["funnel"]
    assert again == lists

"""The paths report's edge cases (DESIGN.md §5 Paths), one by name, through
ReportService (PATHS, PATHS_PEOPLE)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn
from app.reports.paths import PATHS, PATHS_PEOPLE, PathsPeopleSpec, PathsSpec
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter

UTC = timezone.utc
T = datetime(2024, 3, 1, 12, tzinfo=UTC)
FROM, TO = T, T + timedelta(days=1)


def s(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


async def journeys(services, project, **people: str) -> None:
    """Each person's names, one per second from T (a '|' joins names of the same second)."""
    events = []
    for who, names in people.items():
        for i, group in enumerate(names.split()):
            events += [EventIn(who, name, None, s(i)) for name in group.split("|")]
    await services.ingest.record_events(project.id, events)


async def report(services, project, **kw):
    spec = PathsSpec(**{"from_": FROM, "to": TO, **kw})
    result = (await services.reports.report(PATHS, project.id, spec)).value
    nodes = [(n.step, n.event, n.people) for n in result.nodes]
    links = [(x.from_step, x.source, x.target, x.people) for x in result.links]
    return nodes, links


async def who(services, project, spec: PathsSpec, step: int, event: str | None) -> list[str]:
    page = (await services.reports.report(PATHS_PEOPLE, project.id, PathsPeopleSpec(spec, step, event, 100))).value
    assert list(page.people) == sorted(page.people)
    rows = await services.people.by_ids(project.id, list(page.people))
    return sorted(rows[p].identities[0] for p in page.people)


async def test_consecutive_equal_names_count_as_one_and_repeats_later_do_not(services, project):
    await journeys(services, project, ann="Home View View View Home Buy")
    nodes, links = await report(services, project, start_event="Home", depth=3)
    assert nodes == [(0, "Home", 1), (1, "View", 1), (2, "Home", 1), (3, "Buy", 1)]
    assert links == [(0, "Home", "View", 1), (1, "View", "Home", 1), (2, "Home", "Buy", 1)]


async def test_the_same_second_is_ordered_by_name(services, project):
    # ann's second second holds Cart and Ask: Ask comes first.
    await journeys(services, project, ann="Home Cart|Ask Buy")
    nodes, _ = await report(services, project, start_event="Home")
    assert nodes == [(0, "Home", 1), (1, "Ask", 1), (2, "Cart", 1), (3, "Buy", 1)]
    # From Cart, names of its second before it ("Ask") are not after it.
    nodes, _ = await report(services, project, start_event="Cart")
    assert nodes == [(0, "Cart", 1), (1, "Buy", 1)]
    # Back from Ask, Cart (same second, after it) is not before it.
    nodes, _ = await report(services, project, end_event="Ask")
    assert nodes == [(-1, "Home", 1), (0, "Ask", 1)]


async def test_the_anchor_is_the_first_in_range_and_anchorless_people_are_out(services, project):
    await journeys(services, project, ann="Home A Home B", bob="A B", cat="X Home")
    nodes, _ = await report(services, project, start_event="Home", depth=2)
    assert nodes == [(0, "Home", 2), (1, "A", 1), (2, "Home", 1)]
    # With the range starting after ann's first Home, her second is the anchor.
    nodes, _ = await report(services, project, start_event="Home", from_=s(1), depth=2)
    assert nodes == [(0, "Home", 2), (1, "B", 1)]
    # Events at or after `to` are not read.
    nodes, _ = await report(services, project, start_event="Home", to=s(3), depth=2)
    assert nodes == [(0, "Home", 2), (1, "A", 1), (2, "Home", 1)]
    nodes, _ = await report(services, project, start_event="Home", to=s(2), depth=2)
    assert nodes == [(0, "Home", 2), (1, "A", 1)]


async def test_end_mode_reads_backwards_and_links_go_forward_in_time(services, project):
    await journeys(services, project, ann="A B C Buy Buy D", bob="C Buy", cat="Buy A Buy")
    nodes, links = await report(services, project, end_event="Buy", depth=2)
    assert nodes == [(-2, "B", 1), (-1, "C", 2), (0, "Buy", 3)]
    assert links == [(-2, "B", "C", 1), (-1, "C", "Buy", 2)]


async def test_folding_past_the_limit(services, project):
    await journeys(services, project, a="S X", b="S X", c="S Y", d="S Z", e="S W", f="S")
    nodes, links = await report(services, project, start_event="S", limit=2)
    # X has 2; W, Y and Z 1 each: W keeps its node (name ascending), Y and Z fold.
    assert nodes == [(0, "S", 6), (1, "X", 2), (1, None, 2), (1, "W", 1)]
    assert links == [(0, "S", "X", 2), (0, "S", None, 2), (0, "S", "W", 1)]
    spec = PathsSpec(FROM, TO, start_event="S", limit=2)
    assert await who(services, project, spec, 1, None) == ["c", "d"]
    assert await who(services, project, spec, 0, "S") == ["a", "b", "c", "d", "e", "f"]


async def test_null_comes_after_a_name_with_as_many_people(services, project):
    await journeys(services, project, a="S A", b="S B", c="S C")
    nodes, links = await report(services, project, start_event="S", limit=2)
    assert nodes == [(0, "S", 3), (1, "A", 1), (1, "B", 1), (1, None, 1)]
    assert links == [(0, "S", "A", 1), (0, "S", "B", 1), (0, "S", None, 1)]


async def test_depth_bounds_the_steps(services, project):
    await journeys(services, project, ann="S " + " ".join(f"N{i}" for i in range(12)))
    nodes, _ = await report(services, project, start_event="S", depth=10)
    assert [n[0] for n in nodes] == list(range(11))
    nodes, _ = await report(services, project, start_event="S", depth=1)
    assert nodes == [(0, "S", 1), (1, "N0", 1)]


async def test_a_merged_person_walks_both_identities_events(services, project):
    await journeys(services, project, anon="S A", user="x x B")
    await services.ingest.identify(project.id, "anon", "user")
    # Interleaved by (time, name): S|x, A|x, B; the two x are not consecutive.
    nodes, _ = await report(services, project, start_event="S")
    assert nodes == [(0, "S", 1), (1, "x", 1), (2, "A", 1), (3, "x", 1), (4, "B", 1)]


async def test_the_population_filter(services, project):
    await journeys(services, project, ann="S A", bob="S B")
    await services.ingest.set_properties(project.id, "bob", {"plan": "pro"})
    pro = Population(properties=(PropertyFilter("plan", FilterOp.EQ, "pro"),))
    nodes, links = await report(services, project, start_event="S", people=pro)
    assert (nodes, links) == ([(0, "S", 1), (1, "B", 1)], [(0, "S", "B", 1)])


@pytest.mark.parametrize("kw, field", [
    ({}, "input.startEvent"),
    ({"start_event": "a", "end_event": "b"}, "input.endEvent"),
    ({"start_event": ""}, "input.startEvent"),
    ({"end_event": "x\x00"}, "input.endEvent"),
    ({"start_event": "a", "depth": 0}, "input.depth"),
    ({"start_event": "a", "depth": 11}, "input.depth"),
    ({"start_event": "a", "limit": 0}, "input.limit"),
    ({"start_event": "a", "limit": 51}, "input.limit"),
    ({"start_event": "a", "to": FROM - timedelta(seconds=1)}, "input.to"),
])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(BadInput) as e:
        PathsSpec(**{"from_": FROM, "to": TO, **kw})
    assert e.value.field == field

"""The funnel's options (DESIGN.md §5, "Funnel: exclusions, holding a property
constant, conversion over time" and "Population filter"): each edge case the
text names, against the database (compute_funnel) and over GraphQL (the real
server: validation, trend, cache). tests/reports/test_funnel_properties.py
compares random funnels with options against the oracle."""
from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from app.errors import BadInput
from app.reports.funnel import ExclusionSpec, FunnelSpec, FunnelStepSpec, SegmentSpec, StepStatus, compute_funnel
from app.reports.periods import Period
from app.reports.population import Population
from app.storage.filters import FilterOp, PropertyFilter
from tests.support.funnel_cases import FROM, TO, T, gql_input, people, pid, record


def spec(*steps: str, window: int | None = None, exclusions=(), hold=None, population=None, segment=None,
         from_=FROM, to=TO) -> FunnelSpec:
    return FunnelSpec(
        tuple(FunnelStepSpec(s) for s in steps), from_, to, window, segment,
        exclusions=tuple(ExclusionSpec(*x) if isinstance(x, tuple) else x for x in exclusions),
        hold_constant=hold, people=population,
    )


def ids(result, step: int, status=StepStatus.REACHED, segment=None):
    return [p for p, _ in result.people_page(step, status, 1000, None, segment).people]


# ======================================================================= exclusions


async def test_exclusion_only_when_the_chain_reached_after_step(services, project):
    await record(
        services, project,
        # p1 never reached B (afterStep 1): X later does not exclude.
        ("p1", "A", 0), ("p1", "X", 5),
        # p2 reached B, X between B and C: out of the whole report.
        ("p2", "A", 0), ("p2", "B", 10), ("p2", "X", 15), ("p2", "C", 20),
        # p3: X before B (not after t_after): stays.
        ("p3", "A", 0), ("p3", "X", 5), ("p3", "B", 10), ("p3", "C", 20),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", exclusions=[("X", 1, 2)]))
    assert people(result) == [2, 1, 1]
    reached = set(ids(result, 0))
    assert reached == {await pid(services, project, "p1"), await pid(services, project, "p3")}
    assert ids(result, 2) == [await pid(services, project, "p3")]
    assert result.steps[1].time_from_previous.count == 1  # p2's durations are gone too


async def test_exclusion_bounds_are_strict_and_end_at_before_step(services, project):
    await record(
        services, project,
        ("at-after", "A", 0), ("at-after", "B", 10), ("at-after", "X", 10), ("at-after", "C", 20),
        ("at-end", "A", 0), ("at-end", "B", 10), ("at-end", "X", 20), ("at-end", "C", 20),
        ("past-end", "A", 0), ("past-end", "B", 10), ("past-end", "C", 20), ("past-end", "X", 21),
        ("inside", "A", 0), ("inside", "B", 10), ("inside", "X", 19), ("inside", "C", 20),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", exclusions=[("X", 1, 2)]))
    assert people(result) == [3, 3, 3]
    inside = await pid(services, project, "inside")
    assert inside not in ids(result, 0)


async def test_exclusion_end_is_the_window_then_to_when_before_step_not_reached(services, project):
    await record(
        services, project,
        ("w-in", "A", 0), ("w-in", "B", 10), ("w-in", "X", 99),     # 99 < 0 + 100: excluded
        ("w-out", "A", 0), ("w-out", "B", 10), ("w-out", "X", 100),  # not before t_0 + window
    )
    windowed = spec("A", "B", "C", window=100, exclusions=[("X", 1, 2)])
    result = await compute_funnel(services.pool, project.id, windowed)
    assert people(result) == [1, 1, 0]
    assert ids(result, 0) == [await pid(services, project, "w-out")]
    # Without a window the end is `to`: both are out; an X at or after `to` is not seen.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", exclusions=[("X", 1, 2)]))
    assert people(result) == [0, 0, 0]
    await record(services, project, ("late", "A", 0), ("late", "B", 10), ("late", "X", (TO - FROM).total_seconds()))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", exclusions=[("X", 1, 2)]))
    assert ids(result, 0) == [await pid(services, project, "late")]


async def test_an_exclusion_event_that_is_part_of_the_chain_does_not_exclude(services, project):
    await record(
        services, project,
        # B is step 1 and the exclusion (after 0, before 2): the chain's own B stays.
        ("own", "A", 0), ("own", "B", 10), ("own", "C", 20),
        # A second B in the same second, not in the chain: excluded.
        ("twin", "A", 0), ("twin", "B", 10), ("twin", "B", 10), ("twin", "C", 20),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B", "C", exclusions=[("B", 0, 2)]))
    assert people(result) == [1, 1, 1]
    assert ids(result, 0) == [await pid(services, project, "own")]


async def test_exclusion_filters_and_several_exclusions(services, project):
    await record(
        services, project,
        ("keep", "A", 0), ("keep", "X", 5, {"k": "no"}), ("keep", "B", 10),
        ("out", "A", 0), ("out", "X", 5, {"k": "yes"}), ("out", "B", 10),
        ("out2", "A", 0), ("out2", "B", 10), ("out2", "Y", 11), ("out2", "C", 12),
    )
    where = (PropertyFilter("k", FilterOp.EQ, "yes"),)
    s = spec("A", "B", "C", exclusions=[ExclusionSpec("X", 0, 1, where), ("Y", 1, 2)])
    result = await compute_funnel(services.pool, project.id, s)
    assert people(result) == [1, 1, 0]
    assert ids(result, 0) == [await pid(services, project, "keep")]


# ======================================================================= holdConstant


async def test_hold_constant_start_needs_the_property(services, project):
    await record(
        services, project,
        # The earliest A has no plan: not a start; the A at 5 s is.
        ("p", "A", 0), ("p", "A", 5, {"plan": "x"}), ("p", "B", 10, {"plan": "x"}),
        # Only starts without the property: not in the funnel at all.
        ("none", "A", 0), ("none", "B", 10, {"plan": "x"}),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B", hold="plan"))
    assert people(result) == [1, 1]
    assert result.steps[1].time_from_previous.median_seconds == 5.0


async def test_hold_constant_later_steps_equal_by_text_form(services, project):
    await record(
        services, project,
        # 1 and "1" have the same text; a missing value or another value never matches.
        ("text", "A", 0, {"plan": 1}), ("text", "B", 5, {"plan": "1"}),
        ("other", "A", 0, {"plan": "x"}), ("other", "B", 5, {"plan": "y"}), ("other", "B", 6),
        # JSON null is a value: its text is "null".
        ("null", "A", 0, {"plan": None}), ("null", "B", 5, {"plan": "null"}),
        # The best start: the second A (value y) reaches B, the first does not.
        ("best", "A", 0, {"plan": "x"}), ("best", "A", 1, {"plan": "y"}), ("best", "B", 5, {"plan": "y"}),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B", hold="plan"))
    assert people(result) == [4, 3]
    assert ids(result, 1, StepStatus.DROPPED) == [await pid(services, project, "other")]
    best = ids(result, 1).index(await pid(services, project, "best"))
    assert result.people_page(1, StepStatus.REACHED, 1000).people[best][1] == T(5)


async def test_hold_constant_with_a_segment_of_the_first_step(services, project):
    await record(
        services, project,
        ("p", "A", 0, {"plan": "x", "src": "ad"}), ("p", "A", 1, {"plan": "y", "src": "mail"}),
        ("p", "B", 5, {"plan": "y"}),
    )
    s = spec("A", "B", hold="plan", segment=SegmentSpec(first_step_property="src"))
    result = await compute_funnel(services.pool, project.id, s)
    assert [(g.value, g.steps[1].people) for g in result.segments] == [("mail", 1)]


# ======================================================================= trend


async def test_trend_by_the_period_of_t0_with_empty_periods(services, project):
    day = 86400
    await record(
        services, project,
        ("d0a", "A", 10), ("d0a", "B", 20),
        ("d0b", "A", 30),
        # Entered on day 2 (its earliest start), converted on day 3.
        ("d2", "A", 2 * day + 5), ("d2", "B", 3 * day),
    )
    result = await compute_funnel(services.pool, project.id, spec("A", "B"))
    trend = result.people.trend(FROM, TO, Period.DAY)
    assert [(t - FROM, e, c) for t, e, c in trend] == [
        (timedelta(days=0), 2, 1), (timedelta(days=1), 0, 0), (timedelta(days=2), 1, 1),
        *((timedelta(days=d), 0, 0) for d in range(3, 7)),
    ]
    # A range off the period boundaries: the periods that overlap it.
    result = await compute_funnel(services.pool, project.id, spec("A", "B", from_=T(5), to=T(2 * day + 6)))
    trend = result.people.trend(T(5), T(2 * day + 6), Period.WEEK)
    assert trend == [(FROM, 3, 1)]  # d2's B is after `to`


# ======================================================================= population


async def test_population_everywhere_in_the_report(services, project):
    await record(
        services, project,
        ("in1", "A", 0, {"src": "ad"}), ("in1", "B", 10),
        ("in2", "A", 1, {"src": "mail"}),
        ("out", "A", 0, {"src": "ad"}), ("out", "B", 5),
        ("in1", "Paid", 100), ("in2", "Paid", 100),
    )
    population = Population(did_event="Paid")
    s = spec("A", "B", population=population, segment=SegmentSpec(first_step_property="src"))
    result = await compute_funnel(services.pool, project.id, s)
    assert people(result) == [2, 1]
    assert result.steps[1].time_from_previous.median_seconds == 10.0
    assert [(g.value, g.steps[0].people, g.steps[1].people) for g in result.segments] == [("ad", 1, 1), ("mail", 1, 0)]
    assert set(ids(result, 0)) == {await pid(services, project, "in1"), await pid(services, project, "in2")}
    assert [e for _, e, _ in result.people.trend(FROM, TO, Period.DAY)][0] == 2
    # didEvent within from/to of its own; a property filter on the person.
    outside = Population(did_event="Paid", to=T(100))
    assert people(await compute_funnel(services.pool, project.id, spec("A", "B", population=outside))) == [0, 0]
    await services.ingest.set_properties(project.id, "out", {"vip": True})
    vip = Population(properties=(PropertyFilter("vip", FilterOp.EQ, True),))
    result = await compute_funnel(services.pool, project.id, spec("A", "B", population=vip))
    assert people(result) == [1, 1] and ids(result, 1) == [await pid(services, project, "out")]


# ======================================================================= spec


def test_cache_key_of_a_funnel_without_options_is_unchanged():
    s = spec("A", "B", window=60)
    assert s.cache_key() == orjson.dumps(
        ["funnel", [["A", []], ["B", []]], FROM.isoformat(), TO.isoformat(), 60, None]
    ).decode()
    # An empty population filters nothing: the same report, the same key.
    assert spec("A", "B", window=60, population=Population()).cache_key() == s.cache_key()
    keys = {
        spec("A", "B", exclusions=[("X", 0, 1)]).cache_key(),
        spec("A", "B", exclusions=[("Y", 0, 1)]).cache_key(),
        spec("A", "B", hold="plan").cache_key(),
        spec("A", "B", population=Population(did_event="Paid")).cache_key(),
        spec("A", "B").cache_key(),
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"exclusions": [("X", 0, 2)]}, "input.exclusions[0].beforeStep"),
        ({"exclusions": [("X", 1, 1)]}, "input.exclusions[0].afterStep"),
        ({"exclusions": [("X", 0, 1), ("X", -1, 1)]}, "input.exclusions[1].afterStep"),
        ({"exclusions": [("", 0, 1)]}, "input.exclusions[0].event"),
        ({"exclusions": [ExclusionSpec("X", 0, 1, (PropertyFilter("", FilterOp.EQ, 1),))]},
         "input.exclusions[0].where[0].key"),
        ({"hold": ""}, "input.holdConstant"),
    ],
)
def test_bad_options_name_their_field(kwargs, field):
    with pytest.raises(BadInput) as e:
        spec("A", "B", **kwargs)
    assert e.value.field == field


# ======================================================================= GraphQL

TREND = """
query($input: FunnelInput!, $interval: Period!) {
  funnel(input: $input) {
    cached
    steps { people peopleList { nodes { id } } }
    trend(interval: $interval) { start entered converted rate }
    daily: trend { start entered }
  }
}
"""


async def test_graphql_options_and_trend(read_client, services, project):
    await record(
        services, project,
        ("a", "A", 0, {"plan": "x"}), ("a", "B", 10, {"plan": "x"}),
        ("b", "A", 0, {"plan": "x"}), ("b", "X", 5), ("b", "B", 10, {"plan": "x"}),
        ("c", "A", 86400, {"plan": "x"}), ("c", "B", 86410, {"plan": "y"}),
        ("a", "Paid", 0), ("b", "Paid", 0), ("c", "Paid", 0),
    )
    variables = {
        "input": gql_input(
            "A", "B", exclusions=[{"event": "X", "afterStep": 0, "beforeStep": 1}], holdConstant="plan",
            people={"didEvent": "Paid"},
        ),
        "interval": "WEEK",
    }
    data = (await read_client(TREND, variables))["funnel"]
    assert [s["people"] for s in data["steps"]] == [2, 1]
    assert [n["id"] for n in data["steps"][1]["peopleList"]["nodes"]] == [str(await pid(services, project, "a"))]
    assert data["trend"] == [{"start": "2024-03-04T00:00:00+00:00", "entered": 2, "converted": 1, "rate": 0.5}]
    assert [(p["entered"]) for p in data["daily"]] == [1, 1, 0, 0, 0, 0, 0]
    again = (await read_client(TREND, variables))["funnel"]
    assert again["cached"] is True and again["trend"] == data["trend"]
    # trend alone (no peopleList) from a cache entry computed without the chains.
    data = (await read_client("""query($input: FunnelInput!) { funnel(input: $input) { cached
        steps { people } } }""", {"input": gql_input("A", "B")}))["funnel"]
    data = (await read_client("""query($input: FunnelInput!) { funnel(input: $input) { cached
        trend(interval: WEEK) { entered converted } } }""", {"input": gql_input("A", "B")}))["funnel"]
    assert data == {"cached": True, "trend": [{"entered": 3, "converted": 3}]}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"exclusions": [{"event": "X", "afterStep": 0, "beforeStep": 2}]}, "input.exclusions[0].beforeStep"),
        ({"exclusions": [{"event": "X", "afterStep": 1, "beforeStep": 1}]}, "input.exclusions[0].afterStep"),
        ({"exclusions": [{"event": "X", "afterStep": 0, "beforeStep": 1,
                          "where": [{"key": "", "op": "EQ", "value": 1}]}]}, "input.exclusions[0].where[0].key"),
        ({"holdConstant": ""}, "input.holdConstant"),
        ({"people": {"properties": [{"key": "", "op": "EQ", "value": 1}]}}, "input.people.properties[0].key"),
        ({"people": {"didEvent": ""}}, "input.people.didEvent"),
        ({"people": {"didEvent": "A", "from": TO.isoformat(), "to": FROM.isoformat()}}, "input.people.to"),
    ],
)
async def test_graphql_bad_options(read_client, change, field):
    errors = await read_client.errors(TREND, {"input": {**gql_input("A", "B"), **change}, "interval": "DAY"})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == field


async def test_graphql_trend_with_too_many_points_is_refused(read_client):
    variables = {"input": gql_input("A", "B", to=(FROM + timedelta(days=500)).isoformat()), "interval": "HOUR"}
    errors = await read_client.errors(TREND, variables)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == "interval"

"""The funnel in parts (app/reports/funnel/statement.py `build_parts`,
assembly.py `_from_parts`): each range of person ids its own statement,
returning people per raw segment value and the durations sorted; the
assembly keeps the `limit` values with the most people over all the parts
(ties: value ascending in code points), folds the others into null and
finds the order statistics in the parts' sorted arrays. The answer must be
the one statement's exactly (same floats), which the oracle checks.

The people are placed in the ranges of person ids on purpose: the ids are
read after the persons are made (a first event "Z", no step), then the
funnel's events and properties are given by range."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.config import Settings
from app.reports.contract import ReportKind
from app.reports.funnel import assembly
from app.reports.funnel import FUNNEL, FunnelSpec, FunnelStepSpec, SegmentSpec, compute_funnel
from app.reports.service import ReportService
from app.storage.pool import create_pool
from tests.support.funnel_oracle import T0, compare, load, oracle
from tests.support.server import make_project
from tests.support.parts import ON_CITUS_SKIP

pytestmark = ON_CITUS_SKIP

HALF = uuid.UUID(int=1 << 127)
# assembly._merged finds a group's order statistics in its arrays by halving
# (_HALVINGS 0: always) or in one merge of them (very large: always).
HALVINGS = assembly._HALVINGS
BOTH_WAYS = (0, 10**9)
US = 1e-6
# Seconds from A to B (and B to C), varied, repeating across the ranges,
# one µs apart, zero, days.
GAPS = [0, 30, 30 + US, 29 + 999999 * US, 61, 600, 3600, 86400, 2 * 86400 + 0.5, 5, 5, 7 * 86400 + 1]


async def people_by_range(services, project_id, n: int) -> tuple[list[str], list[str]]:
    """n people made by one "Z" event each: (the identities of the low
    range of person ids, those of the high one)."""
    await load(services, project_id, {"before": [(f"p{i}", "Z", -100, {}) for i in range(n)], "links": [],
                                      "after": [], "sets": []})
    rows = await services.pool.fetch("SELECT identity, person_id FROM identities WHERE project_id = $1", project_id)
    low = sorted((r["identity"] for r in rows if r["person_id"] < HALF), key=lambda s: int(s[1:]))
    high = sorted((r["identity"] for r in rows if r["person_id"] >= HALF), key=lambda s: int(s[1:]))
    return low, high


def events_of(assigned: list[tuple[str, str | None]], three: bool) -> dict:
    """Each (identity, value): A with x = value (none: no x) and the person
    property y = value, then B (and C for some) after gaps of GAPS."""
    before, sets = [], []
    for i, (who, value) in enumerate(assigned):
        ab = GAPS[i % len(GAPS)]
        before.append((who, "A", 0, {} if value is None else {"x": value}))
        before.append((who, "B", ab, {}))
        if three and i % 3:
            before.append((who, "C", ab + GAPS[(i * 5) % len(GAPS)], {}))
        if value is not None:
            sets.append((who, "y", value, 0))
    return {"before": before, "links": [], "after": [], "sets": sets}


def spec_of(names: tuple[str, ...], segment: dict | None) -> FunnelSpec:
    return FunnelSpec(
        tuple(FunnelStepSpec(n) for n in names), T0 - timedelta(seconds=1), T0 + timedelta(days=30), None,
        None if segment is None else SegmentSpec(person_property=segment.get("personProperty"),
                                                 first_step_property=segment.get("firstStepProperty"),
                                                 limit=segment["limit"], baseline=segment["baseline"]),
    )


async def same_both_ways(services, project_id, scenario: dict, names: tuple[str, ...], segment: dict | None):
    """The one statement against the oracle (compare), then the parts (2, 3
    and 4 ranges) against the one statement, field by field, exactly."""
    spec = spec_of(names, segment)
    one = await compute_funnel(services.pool, project_id, spec)
    compare(one, await oracle(services, project_id, {**scenario, "segment": segment}, spec))
    for parts in (2, 3, 4):
        for halvings in BOTH_WAYS:  # the order statistics by halving, then by one merge
            assembly._HALVINGS = halvings
            try:
                split = await compute_funnel(services.pool, project_id, spec, with_people=False, parts=parts)
            finally:
                assembly._HALVINGS = HALVINGS
            assert split.steps == one.steps, (parts, halvings)
            assert split.segments == one.segments, (parts, halvings)
    return one


SEGMENTS = ["firstStepProperty", "personProperty"]
NAMES = [("A", "B"), ("A", "B", "C"), ("A", "B", "C", "A")]
NAME_IDS = ["2-set-based", "3-set-based", "4-walked"]


@pytest.mark.parametrize("how", SEGMENTS)
@pytest.mark.parametrize("names", NAMES, ids=NAME_IDS)
async def test_a_value_top_in_one_part_but_not_overall_is_folded(services, how, names):
    """"a" has the most people of the low range and none of the high one;
    overall "b" and "c" have more: with limit 2 "a" folds into null (with
    the people without a value), though one part alone would keep it."""
    project = await make_project(services, "funnel-parts-fold")
    low, high = await people_by_range(services, project.id, 40)
    assert len(low) >= 8 and len(high) >= 10
    values = ["a"] * 5 + ["b"] * 2 + ["c"] * 1
    assigned = [(who, values[i] if i < len(values) else None) for i, who in enumerate(low)]
    assigned += [(who, "bc"[i % 2] if i < 10 else None) for i, who in enumerate(high)]
    scenario = events_of(assigned, len(names) > 2)
    await load(services, project.id, scenario)
    one = await same_both_ways(services, project.id, scenario, names,
                               {how: "x" if how == "firstStepProperty" else "y", "limit": 2, "baseline": None})
    # a 5 people, b 2 + 5, c 1 + 5
    assert [s.value for s in one.segments if s.value is not None] == ["b", "c"]


@pytest.mark.parametrize("how", SEGMENTS)
@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_ties_at_the_limit_go_by_code_points(services, how, limit):
    """"B", "b" and "ä" have as many people each (split unevenly over the
    ranges); code points order them "B" < "b" < "ä" (not a locale's order),
    and the limit cuts between them."""
    project = await make_project(services, "funnel-parts-ties")
    low, high = await people_by_range(services, project.id, 36)
    assigned = [(who, ["B", "b", "ä", "b", None][i % 5]) for i, who in enumerate(low)]
    counts = {v: sum(1 for _, x in assigned if x == v) for v in ("B", "b", "ä")}
    top = max(counts.values()) + 1
    extra = [v for v in ("B", "b", "ä") for _ in range(top - counts[v])]
    assigned += [(who, extra[i] if i < len(extra) else None) for i, who in enumerate(high)]
    if len(high) < len(extra):
        pytest.skip("too few people in the high range for this draw")
    scenario = events_of(assigned, True)
    await load(services, project.id, scenario)
    one = await same_both_ways(services, project.id, scenario, ("A", "B", "C"),
                               {how: "x" if how == "firstStepProperty" else "y", "limit": limit, "baseline": "b"})
    kept = [s.value for s in one.segments if s.value is not None]
    assert kept == ["B", "b", "ä"][:limit]


@pytest.mark.parametrize("segment", [None, {"firstStepProperty": "x", "limit": 2, "baseline": None}],
                         ids=["unsegmented", "segmented"])
@pytest.mark.parametrize("names", [("A",), *NAMES], ids=["1-step", *NAME_IDS])
async def test_every_person_in_one_range_leaves_the_other_parts_empty(services, segment, names):
    project = await make_project(services, "funnel-parts-empty")
    low, _ = await people_by_range(services, project.id, 24)
    assigned = [(who, ["a", "b", "c", None][i % 4]) for i, who in enumerate(low)]
    scenario = events_of(assigned, True)
    await load(services, project.id, scenario)
    await same_both_ways(services, project.id, scenario, names, segment)


async def test_nobody_in_the_funnel(services):
    project = await make_project(services, "funnel-parts-nobody")
    await people_by_range(services, project.id, 4)
    spec = spec_of(("A", "B"), {"firstStepProperty": "x", "limit": 2, "baseline": None})
    one = await compute_funnel(services.pool, project.id, spec)
    split = await compute_funnel(services.pool, project.id, spec, with_people=False, parts=2)
    assert (split.steps, split.segments) == (one.steps, one.segments)
    assert one.steps[0].people == 0


async def test_the_service_runs_the_funnel_in_parts_but_not_with_its_people(services):
    """ReportService.funnel: in parts (split_computations) without
    peopleList, the one statement with it; the same answer."""
    project = await make_project(services, "funnel-parts-service")
    low, high = await people_by_range(services, project.id, 30)
    assigned = [(who, ["a", "b", None][i % 3]) for i, who in enumerate(low + high)]
    await load(services, project.id, events_of(assigned, True))
    spec = spec_of(("A", "B", "C"), {"firstStepProperty": "x", "limit": 1, "baseline": None})
    reports = ReportService(Settings(report_ttl=0, report_parts=2), services.pool)
    try:
        split = (await reports.funnel(project.id, spec)).value
        assert reports.split_computations["funnel"] == 1
        whole = (await reports.funnel(project.id, spec, with_people=True)).value
        assert reports.split_computations["funnel"] == 1
        assert whole.people is not None and split.people is None
        assert (split.steps, split.segments) == (whole.steps, whole.segments)
        reports.parts = 1
        one = (await reports.funnel(project.id, spec)).value
        assert reports.split_computations["funnel"] == 1
        assert (one.steps, one.segments) == (split.steps, split.segments)
    finally:
        await reports.close()


async def test_the_parts_run_without_parallel_workers_and_the_fallback_with_them(services, database_url):
    """FUNNEL.parts_settings on every part's transaction, the first one's
    included; a report that gets no spare connection runs its one
    statement with the funnel's own settings (parallel workers allowed)."""
    project = await make_project(services, "funnel-parts-settings")
    probe = ("SELECT current_setting('max_parallel_workers_per_gather') AS v", [])
    kind = ReportKind("funnel.settings", lambda *_: probe, lambda rows, spec, at: sorted(r["v"] for r in rows),
                      settings=FUNNEL.settings, build_parts=lambda *_: [probe, probe],
                      parts_settings=FUNNEL.parts_settings)
    spec = spec_of(("A", "B"), None)
    default = await services.pool.fetchval("SELECT current_setting('max_parallel_workers_per_gather')")
    assert default != "0"
    for size, want in ((3, ["0", "0"]), (1, [default])):
        pool = await create_pool(database_url, min_size=1, max_size=size)
        reports = ReportService(Settings(report_ttl=0, report_parts=2), pool)
        try:
            assert (await reports.report(kind, project.id, spec)).value == want
        finally:
            await reports.close()
            await pool.close()


@pytest.mark.parametrize("how", SEGMENTS)
async def test_many_segment_values_few_durations_each(services, how):
    """More raw values than durations per value (the assembly merges the
    arrays rather than halving over each): the same answer."""
    project = await make_project(services, "funnel-parts-many")
    low, high = await people_by_range(services, project.id, 60)
    assigned = [(who, None if i % 7 == 0 else f"v{i % 29}") for i, who in enumerate(low + high)]
    scenario = events_of(assigned, True)
    await load(services, project.id, scenario)
    one = await same_both_ways(services, project.id, scenario, ("A", "B", "C"),
                               {how: "x" if how == "firstStepProperty" else "y", "limit": 3, "baseline": None})
    assert len(one.segments) == 4

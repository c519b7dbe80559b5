"""The funnel oracle's helpers, shared by the funnel tests that compare the
SQL answer with tests/support/reference.py `funnel`: `load` a scenario into a
project, the `oracle`'s answer over what the database holds, and `compare`
(field by field, peopleList orders included)."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from app.reports.funnel import FunnelSpec, StepStatus
from tests.support.reference import funnel as reference_funnel
from tests.support.worlds import load as load_world, stored

T0 = datetime(2024, 5, 6, tzinfo=timezone.utc)


async def load(services, project_id, scenario: dict) -> None:
    """Play a scenario (the shape of tests/support/worlds.py's worlds, times from T0)."""
    await load_world(services, project_id, scenario, t0=T0)


async def oracle(services, project_id, scenario: dict, spec: FunnelSpec) -> dict:
    seg = scenario["segment"]
    events, person_props = await stored(services, project_id)
    steps = [
        {"event": s.event, "where": [{"key": f.key, "op": f.op.value, "value": f.value} for f in s.where] or None}
        for s in spec.steps
    ]
    return reference_funnel(events, person_props, steps, spec.from_, spec.to, spec.window_seconds, seg)


def close(a: float, b: float, tolerance: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def compare_steps(got, want: list[dict], result, segment: int | None, where: str) -> None:
    assert len(got) == len(want), where
    for s, w in zip(got, want):
        at = f"{where} step {s.index}"
        assert (s.index, s.event, s.people, s.dropped_off) == (
            w["index"], w["event"], w["people"], w["droppedOff"]
        ), at
        assert close(s.conversion_from_previous, w["conversionFromPrevious"]), at
        assert close(s.conversion_from_start, w["conversionFromStart"]), at
        t, wt = s.time_from_previous, w["timeFromPrevious"]
        assert (t is None) == (wt is None), at
        if t is not None:
            assert t.count == wt["count"], at
            assert close(t.median_seconds, wt["medianSeconds"]), at
            assert close(t.mean_seconds, wt["meanSeconds"]), at
            assert close(t.p90_seconds, wt["p90Seconds"]), at
            assert [{"upToSeconds": b, "people": n} for b, n in t.histogram] == wt["histogram"], at
        for status, key in ((StepStatus.REACHED, "reached"), (StepStatus.DROPPED, "dropped")):
            page = result.people_page(s.index, status, 10_000, None, segment)
            assert [str(p) for p, _ in page.people] == w[key], f"{at} {status.value}"
            assert page.total == len(w[key]) and not page.has_next, at


def compare(result, want: dict) -> None:
    compare_steps(result.steps, want["steps"], result, None, "overall")
    assert [s.value for s in result.segments] == [w["value"] for w in want["segments"]]
    for i, (s, w) in enumerate(zip(result.segments, want["segments"])):
        where = f"segment {s.value!r}"
        compare_steps(s.steps, w["steps"], result, i, where)
        assert close(s.conversion_rate, w["conversionRate"]), where
        c, wc = s.comparison, w["comparison"]
        assert (c is None) == (wc is None), where
        if c is not None:
            assert c.baseline == wc["baseline"], where
            assert close(c.lift, wc["lift"]), where
            assert close(c.z_score, wc["zScore"]), where
            assert close(c.p_value, wc["pValue"]), where
            assert abs(c.probability_to_beat_baseline - wc["probabilityToBeatBaseline"]) <= 0.005, where
            assert c.significant == wc["significant"], where

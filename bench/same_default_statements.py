"""The statements and cache keys of funnel, cohort and revenue inputs without
the options of issue 12 (exclusions, holdConstant, people; mode, cumulative)
are exactly those of the code at REF: 180 combinations of steps (distinct,
repeated, one), window, segment kind, a step filter and peopleList; every
cohort period, bucket and bucket count across the 64-cell masks; every
revenue interval and topPeople. The modules of REF are written beside the
current ones for the check (app/reports/_ref_*.py) and removed after.

    .venv/bin/python -m bench.same_default_statements 67404c9
"""
from __future__ import annotations

import importlib
import itertools
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(ref: str) -> None:
    written = []
    try:
        for name in ("funnel", "cohort", "revenue"):
            text = subprocess.run(["git", "show", f"{ref}:app/reports/{name}.py"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout
            path = ROOT / "app" / "reports" / f"_ref_{name}.py"
            path.write_text(text)
            written.append(path)
        check()
    finally:
        for path in written:
            path.unlink()


def _words(sql: str) -> str:
    """A statement with its layout removed (runs of whitespace, and the
    whitespace inside parentheses)."""
    import re

    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", re.sub(r"\s+", " ", sql))).strip()


def check() -> None:
    from app.reports import cohort as cnew
    from app.reports import funnel as new
    from app.reports import revenue as rnew
    from app.reports.periods import Period
    from app.storage.filters import FilterOp, PropertyFilter

    old = importlib.import_module("app.reports._ref_funnel")
    cold = importlib.import_module("app.reports._ref_cohort")
    rold = importlib.import_module("app.reports._ref_revenue")
    pid = uuid.uuid4()
    F, T = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, tzinfo=timezone.utc)
    n = 0
    for names, window, seg, where, with_people in itertools.product(
        (["A", "B"], ["A", "B", "C", "D"], ["A", "A", "B"], ["A"]), (None, 3600), (None, "p", "f"),
        (False, True), (False, True),
    ):
        def make(m):
            steps = tuple(
                m.FunnelStepSpec(x, (PropertyFilter("k", FilterOp.EQ, 1),) if where and i == 1 else ())
                for i, x in enumerate(names)
            )
            s = None if seg is None else (
                m.SegmentSpec(person_property="x") if seg == "p" else m.SegmentSpec(first_step_property="x"))
            return m.FunnelSpec(steps, F, T, window, s)

        a, b = make(old), make(new)
        assert old.build_query(pid, a, with_people) == new.build_query(pid, b, with_people), (names, window, seg)
        assert a.cache_key() == b.cache_key()
        n += 1
    for cp, bk, nb in itertools.product(list(Period), list(Period), (1, 12, 64, 65, 120)):
        a, b = cold.CohortSpec("S", "R", F, T, cp, bk, nb), cnew.CohortSpec("S", "R", F, T, cp, bk, nb)
        # The cohort package (app/reports/cohort/) lays its statement out
        # through the composer: the same statement up to whitespace.
        sql, params = cnew.COHORT.build(pid, b)
        assert _words(cold.cohort_sql(a)) == _words(sql) and cold.cohort_params(pid, a) == params
        assert a.cache_key() == b.cache_key()
        n += 1
    for iv in Period:
        a, b = rold.RevenueSpec(F, T, iv), rnew.RevenueSpec(F, T, iv)
        assert rnew.revenue_statement(pid, b) == (rold.revenue_sql(a), [pid, F, T, "Campaign Source"])
        assert a.cache_key() == b.cache_key()
        n += 1
    assert rold.TOP_PEOPLE_SQL == rnew.TOP_PEOPLE_SQL == rnew.top_people_sql()
    print(f"the same statements, parameters and cache keys: {n} inputs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main")

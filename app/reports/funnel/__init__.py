"""The funnel report (DESIGN.md §5 Funnel) on the report contract
(app/reports/contract.py): spec.py the input, statement.py the SQL from named
parts, assembly.py the rows into a FunnelResult, people.py the peopleList
pages. ReportService.funnel (app/reports/service.py) runs it: the statement
settings, the statement, the assembly, the cache and the timeout.

`compute_funnel` runs the same three roles on a connection of the caller's,
outside the service (tests and bench/)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from ...storage import cluster
from ..contract import ReportKind
from .assembly import (
    FunnelComparison,
    FunnelResult,
    FunnelSegmentResult,
    FunnelStepResult,
    RowKind,
    assemble,
)
from .people import FunnelPeople, PeoplePage
from .spec import MAX_STEPS, ExclusionSpec, FunnelSpec, FunnelStepSpec, SegmentSpec, StepStatus
from .statement import build_parts, build_query

__all__ = [
    "FUNNEL",
    "MAX_STEPS",
    "STATEMENT_SETTINGS",
    "ExclusionSpec",
    "FunnelComparison",
    "FunnelPeople",
    "FunnelResult",
    "FunnelSegmentResult",
    "FunnelSpec",
    "FunnelStepResult",
    "FunnelStepSpec",
    "PeoplePage",
    "RowKind",
    "SegmentSpec",
    "StepStatus",
    "assemble",
    "build_parts",
    "build_query",
    "compute_funnel",
    "compute_funnel_people",
]

# Transaction-local planner settings of the funnel's statement, on top of the
# report service's REPORT_SETTINGS (so only when it runs in the service's
# transaction): parallel workers for its big index and heap scans — the starts'
# merge with the step-1 times and the pass over the step-0 events that carry
# the segment property — which the default costs (setup 1000, 0.1 a row)
# price out. The size thresholds stay the defaults: a small project's funnel
# stays serial. The answer does not depend on the plan.
STATEMENT_SETTINGS = """SELECT set_config('parallel_setup_cost', '100', true),
       set_config('parallel_tuple_cost', '0.01', true)"""


# The funnel as a ReportKind, for its parts (ReportService._funnel runs them
# through ReportService._fetch_parts; the funnel's other ways — peopleList,
# Citus, the one statement — stay ReportService._funnel's own).
# The parts run without parallel workers: the parts are the report's
# parallelism (one per core, WHODID_REPORT_PARTS), and a part's workers only
# compete with the other parts for the cores (docs/benchmarks.md §19.3: at
# 1M events the split 441 ms with them, 349 ms without).
PARTS_SETTINGS = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"
FUNNEL: ReportKind[FunnelSpec, FunnelResult] = ReportKind(
    "funnel", lambda project_id, spec: build_query(project_id, spec), assemble, settings=STATEMENT_SETTINGS,
    build_parts=build_parts, parts_settings=PARTS_SETTINGS,
)


async def compute_funnel(
    conn_or_pool: Any, project_id: uuid.UUID, spec: FunnelSpec, *, with_people: bool = True, parts: int = 1
) -> FunnelResult:
    """The funnel report of `spec` as of now, on the caller's connection or
    pool (no cache, no timeout: ReportService.funnel is the server's way).
    `parts` > 1 (not with_people, not on Citus): build_parts' statements, one
    after another on `conn_or_pool` (tests: the data must not change in
    between, or the caller's connection is in one transaction)."""
    computed_at = datetime.now(timezone.utc)
    rows: list[Any] = []
    if spec.from_ < spec.to:  # an empty range: nobody enters (not run)
        on_citus = cluster.on_citus(conn_or_pool)
        in_transaction = getattr(conn_or_pool, "is_in_transaction", None)
        if in_transaction is not None and in_transaction():
            await conn_or_pool.execute(STATEMENT_SETTINGS)
        if parts > 1 and not with_people and not on_citus:
            for sql, params in build_parts(project_id, spec, parts):
                rows += await conn_or_pool.fetch(sql, *params)
        else:
            sql, params = build_query(project_id, spec, with_people, per_shard=on_citus)
            rows = await conn_or_pool.fetch(sql, *params)
    return assemble(rows, spec, computed_at, with_people=with_people)


async def compute_funnel_people(conn_or_pool: Any, project_id: uuid.UUID, spec: FunnelSpec) -> FunnelPeople:
    """Only the per-person chains of `spec`, as of now."""
    result = await compute_funnel(conn_or_pool, project_id, spec, with_people=True)
    assert result.people is not None
    return result.people

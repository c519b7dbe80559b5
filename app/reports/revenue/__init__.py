"""The revenue report (DESIGN.md §5 Revenue) on the report contract
(app/reports/contract.py): spec.py the input, statement.py the SQL from named
parts, assembly.py the rows (of the named kinds of RowKind) into a
RevenueResult. REVENUE is the report, REVENUE_TOP_PEOPLE a page of its
topPeople; ReportService.report runs both.

`compute_revenue` runs the same three roles on a connection (or pool) of the
caller's, outside the service (tests and bench/)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from ...storage import cluster
from ..contract import ReportKind
from .assembly import (
    Money,
    RevenuePoint,
    RevenueResult,
    RevenueSlice,
    RowKind,
    TopPeoplePage,
    assemble,
    assemble_top_people,
)
from .spec import MAX_KEY_LENGTH, RevenueSpec, TopPeopleSpec
from .statement import build, build_parts, build_per_shard, build_top_people, build_top_people_per_shard

REVENUE: ReportKind[RevenueSpec, RevenueResult] = ReportKind(
    "revenue", build, assemble, build_per_shard=build_per_shard, build_parts=build_parts
)
REVENUE_TOP_PEOPLE: ReportKind[TopPeopleSpec, TopPeoplePage] = ReportKind(
    "revenue.top", build_top_people, assemble_top_people, build_per_shard=build_top_people_per_shard
)

__all__ = [
    "MAX_KEY_LENGTH", "REVENUE", "REVENUE_TOP_PEOPLE", "Money", "RevenuePoint", "RevenueResult", "RevenueSlice",
    "RevenueSpec", "RowKind", "TopPeoplePage", "TopPeopleSpec", "build", "build_top_people", "compute_revenue",
]


async def compute_revenue(conn_or_pool: Any, project_id: uuid.UUID, spec: RevenueSpec) -> RevenueResult:
    """The revenue report of `spec` as of now, on the caller's connection or
    pool (no cache, no timeout: ReportService.report is the server's way);
    on Citus its per-shard statement, as the service runs it."""
    sql, params, per_shard = REVENUE.statement(project_id, spec, cluster.on_citus(conn_or_pool))
    rows = await (conn_or_pool if per_shard else cluster.reads(conn_or_pool)).fetch(sql, *params)
    return assemble(rows, spec, datetime.now(timezone.utc))

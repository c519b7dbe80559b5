"""The cohort report (DESIGN.md §5 Cohort) on the report contract
(app/reports/contract.py): spec.py the input, statement.py the SQL from named
parts, assembly.py the rows into a CohortResult. COHORT is the report;
ReportService.cohort (app/reports/service.py) runs it: the statement, the
assembly, the cache and the timeout.

`compute_cohort` runs the same roles on a connection of the caller's, outside
the service (tests and bench/)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ...storage import cluster
from ..contract import ReportKind
from .assembly import CohortCell, CohortResult, CohortRow, GridRow, assemble
from .spec import MAX_BUCKETS, MODES, CohortSpec, Mode
from .statement import build, build_parts, build_per_shard

COHORT: ReportKind[CohortSpec, CohortResult] = ReportKind(
    "cohort", build, assemble, build_per_shard=build_per_shard, build_parts=build_parts
)

__all__ = [
    "COHORT", "MAX_BUCKETS", "MODES", "CohortCell", "CohortResult", "CohortRow", "CohortSpec", "GridRow", "Mode",
    "assemble", "build", "compute_cohort",
]


async def compute_cohort(conn: Any, project_id: uuid.UUID, spec: CohortSpec, computed_at: datetime) -> CohortResult:
    """The cohort report on the caller's connection or pool (no cache, no
    timeout: ReportService.cohort is the server's way); `computed_at` decides
    which cells are complete. An empty range is not run (no members)."""
    rows: list[Any] = []
    if spec.from_ < spec.to:
        sql, params, per_shard = COHORT.statement(project_id, spec, cluster.on_citus(conn))
        rows = await (conn if per_shard else cluster.reads(conn)).fetch(sql, *params)
    return assemble(rows, spec, computed_at)

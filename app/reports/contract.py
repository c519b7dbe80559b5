"""The report contract: every report is the same three roles, run by
ReportService (app/reports/service.py), which owns the connection, the
transaction and its settings, the clock (computedAt), the cache and the
timeout.

- **spec**: a frozen dataclass of the normalised, validated input. Its
  constructor refuses bad input with BadInput naming the field
  (`input.series[1].property`); `cache_key()` is the normalised input as a
  stable string (equal for equal reports).
- **statement**: `build(project_id, spec) -> (sql, params)`, composed of named
  parts (app/reports/sql.py, `Statement`), each part made by a small function
  that can be tested alone. $1 is always the project id.
- **assembly**: `assemble(rows, spec, computed_at) -> result`, plain Python
  over the statement's rows (asyncpg Records): the rates, the ordering, the
  empty periods; no database.
- **parts** (optional): `build_parts(project_id, spec, n) -> [(sql, params)]`,
  the statement cut in n ranges of person ids whose rows add up; `assemble`
  takes the rows of all the parts (or of `build`) alike. The service runs
  the parts on n connections at once in one exported snapshot
  (docs/decisions.md, "Reports split over connections in one snapshot").

A report is declared once as a `ReportKind` and run with
`ReportService.report(KIND, project_id, spec)`. A report with a people
drill-down declares a second kind for it (its spec names the report's spec
and the point, bucket or node, and the page), run the same way.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Generic, Protocol, Sequence, TypeVar

S = TypeVar("S", bound="ReportSpec")
R = TypeVar("R")


class ReportSpec(Protocol):
    def cache_key(self) -> str: ...


@dataclass(frozen=True)
class ReportKind(Generic[S, R]):
    """One report: its name (the cache's and the metrics' kind), how its
    statement is built and how its rows become the answer."""

    name: str
    build: Callable[[uuid.UUID, S], tuple[str, list[Any]]]
    assemble: Callable[[Sequence[Any], S, datetime], R]
    # Extra transaction-local settings (SQL run after REPORT_SETTINGS), if any.
    settings: str | None = None
    # On a Citus cluster, the statement whose per-person work runs on every
    # shard (docs/scaling.md), when the report has one for this spec (None:
    # the coordinator's path, app/storage/cluster.py `reads`).
    build_per_shard: Callable[[uuid.UUID, S], tuple[str, list[Any]] | None] | None = None
    # The statements of `parts` ranges of person ids (app/reports/sql.py
    # person_id_ranges), when the report's rows add up over persons: each
    # gives build's rows for the persons of its range, and `assemble` takes
    # the rows of all the parts together (a row of build's split over the
    # parts: assemble adds them up). The report service runs them side by
    # side on connections of one snapshot (ReportService.report).
    build_parts: Callable[[uuid.UUID, S, int], list[tuple[str, list[Any]]]] | None = None
    # Extra transaction-local settings of every part's transaction when the
    # report runs in parts (after `settings`), if any: e.g. no parallel
    # workers, the parts being the report's parallelism (the funnel).
    parts_settings: str | None = None

    def split_settings(self) -> str | None:
        """The settings of a part's transaction: `settings`, then `parts_settings`."""
        return ";\n".join(x for x in (self.settings, self.parts_settings) if x) or None

    def statement(self, project_id: uuid.UUID, spec: S, on_citus: bool) -> tuple[str, list[Any], bool]:
        """(sql, params, per_shard): on a Citus cluster the per-shard
        statement when the kind has one for this spec (per_shard True: run
        it on the coordinator as it is), else `build`'s (on Citus through
        the coordinator's path, app/storage/cluster.py `reads`)."""
        per_shard = self.build_per_shard(project_id, spec) if on_citus and self.build_per_shard else None
        if per_shard is not None:
            return per_shard[0], per_shard[1], True
        sql, params = self.build(project_id, spec)
        return sql, params, False

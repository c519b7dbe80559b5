"""The paths report (DESIGN.md §5 Paths) on the report contract
(app/reports/contract.py): the steps people take after a start event or
before an end event, as nodes and links for a Sankey diagram. `PATHS` is the
report, `PATHS_PEOPLE` a page of one node's people (by person id)."""
from __future__ import annotations

from ..contract import ReportKind
from .assembly import PathLink, PathNode, PathsPeoplePage, PathsResult, assemble, assemble_people
from .spec import MAX_DEPTH, MAX_LIMIT, PathsPeopleSpec, PathsSpec
from .statement import build, build_people, build_people_per_shard, build_per_shard

__all__ = [
    "MAX_DEPTH",
    "MAX_LIMIT",
    "PATHS",
    "PATHS_PEOPLE",
    "PathLink",
    "PathNode",
    "PathsPeoplePage",
    "PathsPeopleSpec",
    "PathsResult",
    "PathsSpec",
]

# Transaction-local planner settings of the report's statement (on top of
# REPORT_SETTINGS): its two halves of the persons run side by side (Parallel
# Append) only when each is worth more than starting a worker. Each half
# reads the project's events_person_ts, so its estimated cost never falls
# much below ~1,000 even for a few hundred events in range; at the default
# setup cost (1,000) a report of a day's events started two workers for 0.5
# ms of work each (29 vs 4 ms wall on a loaded machine). At 20,000 a week
# of the bench's 1M data set (5,624 events, 11 ms in one process) stays in
# one process and a month (38,544 events) on goes parallel
# (docs/benchmarks.md §16.3). The answer does not depend on the plan.
STATEMENT_SETTINGS = "SELECT set_config('parallel_setup_cost', '20000', true)"

PATHS: ReportKind[PathsSpec, PathsResult] = ReportKind("paths", build, assemble, STATEMENT_SETTINGS,
                                                      build_per_shard=build_per_shard)
PATHS_PEOPLE: ReportKind[PathsPeopleSpec, PathsPeoplePage] = ReportKind(
    "paths.people", build_people, assemble_people, build_per_shard=build_people_per_shard)

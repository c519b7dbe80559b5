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

PATHS: ReportKind[PathsSpec, PathsResult] = ReportKind("paths", build, assemble, build_per_shard=build_per_shard)
PATHS_PEOPLE: ReportKind[PathsPeopleSpec, PathsPeoplePage] = ReportKind(
    "paths.people", build_people, assemble_people, build_per_shard=build_people_per_shard)

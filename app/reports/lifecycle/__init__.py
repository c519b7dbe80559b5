"""The lifecycle report (DESIGN.md §5 Lifecycle) on the report contract
(app/reports/contract.py): per period, the people who are new, returning,
resurrecting and dormant. `LIFECYCLE` is the report, `LIFECYCLE_PEOPLE` a
page of one point's people (by person id)."""
from __future__ import annotations

from ..contract import ReportKind
from .assembly import LifecyclePeoplePage, LifecyclePoint, LifecycleResult, assemble, assemble_people
from .spec import LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from .statement import build, build_parts, build_people, build_people_per_shard, build_per_shard

__all__ = [
    "LIFECYCLE",
    "LIFECYCLE_PEOPLE",
    "LifecyclePeoplePage",
    "LifecyclePeopleSpec",
    "LifecyclePoint",
    "LifecycleResult",
    "LifecycleSpec",
    "LifecycleStatus",
]

LIFECYCLE: ReportKind[LifecycleSpec, LifecycleResult] = ReportKind(
    "lifecycle", build, assemble, build_per_shard=build_per_shard, build_parts=build_parts
)
LIFECYCLE_PEOPLE: ReportKind[LifecyclePeopleSpec, LifecyclePeoplePage] = ReportKind(
    "lifecycle.people", build_people, assemble_people, build_per_shard=build_people_per_shard
)

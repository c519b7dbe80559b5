"""The stickiness report (DESIGN.md §5 "Stickiness") on the report contract
(app/reports/contract.py): STICKINESS the report, STICKINESS_PEOPLE a
bucket's peopleList."""
from __future__ import annotations

from ..contract import ReportKind
from ..trends.assembly import PeoplePage
from .assembly import StickinessBucket, StickinessResult, assemble, assemble_people
from .spec import StickinessPeopleSpec, StickinessSpec
from .statement import build, build_parts, build_people, build_people_per_shard, build_per_shard

STICKINESS: ReportKind[StickinessSpec, StickinessResult] = ReportKind(
    "stickiness", build, assemble, build_per_shard=build_per_shard, build_parts=build_parts
)
STICKINESS_PEOPLE: ReportKind[StickinessPeopleSpec, PeoplePage] = ReportKind(
    "stickiness.people", build_people, assemble_people, build_per_shard=build_people_per_shard
)

__all__ = [
    "STICKINESS", "STICKINESS_PEOPLE", "PeoplePage", "StickinessBucket", "StickinessPeopleSpec", "StickinessResult",
    "StickinessSpec",
]

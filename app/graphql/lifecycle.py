"""GraphQL types and resolver of the lifecycle report (contract.graphql): input
-> LifecycleSpec, LifecycleResult -> types. The report runs as the LIFECYCLE
kind of the report contract (app/reports/lifecycle); a point's peopleList as
LIFECYCLE_PEOPLE, one page at a time, by person id."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

import strawberry

from ..reports import periods
from ..reports.lifecycle import LIFECYCLE, LIFECYCLE_PEOPLE, LifecyclePeopleSpec, LifecycleResult, LifecycleSpec
from ..reports.lifecycle import LifecycleStatus as LifecycleStatusValue
from .context import Context
from .inputs import PeopleFilter, PropertyFilter, filters, population
from .people_lists import people_page, person_after
from .pagination import check_first
from .types import Period, PersonConnection

Info = strawberry.Info[Context, None]


@strawberry.enum
class LifecycleStatus(Enum):
    NEW = "NEW"
    RETURNING = "RETURNING"
    RESURRECTING = "RESURRECTING"
    DORMANT = "DORMANT"


@strawberry.input
class LifecycleInput:
    event: str
    where: Optional[list[PropertyFilter]] = None
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval: Period = Period.DAY
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> LifecycleSpec:
        return LifecycleSpec(
            event=self.event,
            where=tuple(filters(self.where, "input.where") or ()),
            from_=self.from_,
            to=self.to,
            interval=periods.Period(self.interval.value),
            people=population(self.people),
        )


_CURSOR = "lc"


@strawberry.type
class LifecyclePoint:
    start: datetime
    new: int
    returning: int
    resurrecting: int
    dormant: int = strawberry.field(description="Active in the period before, not in this one (a positive number).")
    spec: strawberry.Private[LifecycleSpec]

    @strawberry.field(description="The people of one status in this period, by person id.")
    async def people_list(
        self, info: Info, status: LifecycleStatus, first: int = 50, after: Optional[str] = None
    ) -> PersonConnection:
        info.context.require_read()
        check_first(first)
        cursor = person_after(after, _CURSOR)
        value = LifecycleStatusValue(status.value)
        total = {
            LifecycleStatusValue.NEW: self.new, LifecycleStatusValue.RETURNING: self.returning,
            LifecycleStatusValue.RESURRECTING: self.resurrecting, LifecycleStatusValue.DORMANT: self.dormant,
        }[value]
        if total == 0 or first == 0:
            return await people_page(info, (), total > 0 and first == 0, total, _CURSOR)
        page_spec = LifecyclePeopleSpec(self.spec, self.start, value, first, cursor)
        page = (await info.context.services.reports.report(LIFECYCLE_PEOPLE, info.context.project_id, page_spec)).value
        return await people_page(info, page.people, page.has_next_page, total, _CURSOR)


@strawberry.type
class LifecycleReport:
    points: list[LifecyclePoint]
    computed_at: datetime
    cached: bool


def lifecycle_report(spec: LifecycleSpec, result: LifecycleResult, computed_at: datetime, cached: bool) -> LifecycleReport:
    return LifecycleReport(
        points=[
            LifecyclePoint(start=p.start, new=p.new, returning=p.returning, resurrecting=p.resurrecting,
                           dormant=p.dormant, spec=spec)
            for p in result.points
        ],
        computed_at=computed_at,
        cached=cached,
    )


async def resolve_lifecycle(info: Info, input: LifecycleInput) -> LifecycleReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.report(LIFECYCLE, info.context.project_id, spec)
    return lifecycle_report(spec, report.value, report.computed_at, report.cached)

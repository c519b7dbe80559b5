"""GraphQL types and resolver of the stickiness report (contract.graphql):
input -> StickinessSpec, StickinessResult -> types; a bucket's peopleList
runs as STICKINESS_PEOPLE, one page at a time, by person id."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import strawberry

from ..reports import periods
from ..reports.stickiness import STICKINESS, STICKINESS_PEOPLE, StickinessPeopleSpec, StickinessResult, StickinessSpec
from .context import Context
from .inputs import PeopleFilter, PropertyFilter, filters, population
from .people_lists import EMPTY, people_page, person_after
from .pagination import check_first
from .types import Period, PersonConnection

Info = strawberry.Info[Context, None]


@strawberry.input
class StickinessInput:
    event: str
    where: Optional[list[PropertyFilter]] = None
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval: Period = Period.DAY
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> StickinessSpec:
        return StickinessSpec(
            event=self.event,
            where=tuple(filters(self.where, "input.where") or ()),
            from_=self.from_,
            to=self.to,
            interval=periods.Period(self.interval.value),
            people=population(self.people),
        )


@strawberry.type
class StickinessBucket:
    periods: int = strawberry.field(description="Active in exactly this many periods.")
    people: int
    spec: strawberry.Private[StickinessSpec]

    @strawberry.field
    async def people_list(self, info: Info, first: int = 50, after: Optional[str] = None) -> PersonConnection:
        info.context.require_read()
        check_first(first)
        cursor = person_after(after, "sp")
        if not self.people:
            return EMPTY
        page_spec = StickinessPeopleSpec(self.spec, self.periods, first, cursor)
        page = (await info.context.services.reports.report(STICKINESS_PEOPLE, info.context.project_id, page_spec)).value
        return await people_page(info, page.ids, page.has_next_page, page.total, "sp")


@strawberry.type
class StickinessReport:
    intervals: int
    buckets: list[StickinessBucket]
    computed_at: datetime
    cached: bool


def stickiness_report(
    spec: StickinessSpec, result: StickinessResult, computed_at: datetime, cached: bool
) -> StickinessReport:
    return StickinessReport(
        intervals=result.intervals,
        buckets=[StickinessBucket(periods=b.periods, people=b.people, spec=spec) for b in result.buckets],
        computed_at=computed_at,
        cached=cached,
    )


async def resolve_stickiness(info: Info, input: StickinessInput) -> StickinessReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.report(STICKINESS, info.context.project_id, spec)
    return stickiness_report(spec, report.value, report.computed_at, report.cached)

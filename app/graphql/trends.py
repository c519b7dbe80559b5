"""GraphQL types and resolver of the trends report (contract.graphql): input
-> TrendsSpec, TrendsResult -> types. The report runs as the TRENDS kind of
the report contract (app/reports/trends); a PEOPLE point's peopleList as
TRENDS_PEOPLE, one page at a time, by person id."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

import strawberry

from ..reports import periods
from ..reports.trends import TRENDS, TRENDS_PEOPLE, BreakdownSpec, SeriesSpec, TrendPeopleSpec, TrendsSpec
from ..reports.trends import TrendMath as TrendMathValue
from ..reports.trends.assembly import TrendsResult
from .context import Context
from .inputs import PeopleFilter, PropertyFilter, filters, population
from .people_lists import EMPTY, people_page, person_after
from .pagination import check_first
from .types import Period, PersonConnection

Info = strawberry.Info[Context, None]


@strawberry.enum
class TrendMath(Enum):
    TOTAL = "TOTAL"
    PEOPLE = "PEOPLE"
    EVENTS_PER_PERSON = "EVENTS_PER_PERSON"
    SUM = "SUM"
    AVERAGE = "AVERAGE"
    MIN = "MIN"
    MAX = "MAX"
    MEDIAN = "MEDIAN"


@strawberry.input
class TrendSeriesInput:
    event: str
    where: Optional[list[PropertyFilter]] = None
    math: TrendMath = TrendMath.TOTAL
    property: Optional[str] = strawberry.field(
        default=None, description="The numeric event property for SUM, AVERAGE, MIN, MAX and MEDIAN."
    )

    def to_spec(self, field: str) -> SeriesSpec:
        return SeriesSpec(
            event=self.event,
            where=tuple(filters(self.where, f"{field}.where") or ()),
            math=TrendMathValue(self.math.value),
            property=self.property,
        )


@strawberry.input
class BreakdownInput:
    event_property: Optional[str] = None
    person_property: Optional[str] = None
    limit: int = 10

    def to_spec(self) -> BreakdownSpec:
        return BreakdownSpec(self.event_property, self.person_property, self.limit)


@strawberry.input
class TrendsInput:
    series: list[TrendSeriesInput]
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval: Period = Period.DAY
    breakdown: Optional[BreakdownInput] = None
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> TrendsSpec:
        return TrendsSpec(
            series=tuple(s.to_spec(f"input.series[{i}]") for i, s in enumerate(self.series)),
            from_=self.from_,
            to=self.to,
            interval=periods.Period(self.interval.value),
            breakdown=None if self.breakdown is None else self.breakdown.to_spec(),
            people=population(self.people),
        )


@strawberry.type
class TrendPoint:
    start: datetime
    value: Optional[float]
    spec: strawberry.Private[TrendsSpec]
    series: strawberry.Private[int]
    rank: strawberry.Private[Optional[int]]

    @strawberry.field(description="Who is counted in this point (PEOPLE math only; empty otherwise).")
    async def people_list(self, info: Info, first: int = 50, after: Optional[str] = None) -> PersonConnection:
        info.context.require_read()
        check_first(first)
        cursor = person_after(after, "tp")
        if self.spec.series[self.series].math is not TrendMathValue.PEOPLE or not self.value:
            return EMPTY
        page_spec = TrendPeopleSpec(self.spec, self.series, self.rank, self.start, first, cursor)
        page = (await info.context.services.reports.report(TRENDS_PEOPLE, info.context.project_id, page_spec)).value
        return await people_page(info, page.ids, page.has_next_page, page.total, "tp")


@strawberry.type
class TrendSeries:
    index: int
    event: str
    math: TrendMath
    breakdown_value: Optional[str]
    total: Optional[float]
    points: list[TrendPoint]


@strawberry.type
class TrendsReport:
    series: list[TrendSeries]
    computed_at: datetime
    cached: bool


def trends_report(spec: TrendsSpec, result: TrendsResult, computed_at: datetime, cached: bool) -> TrendsReport:
    return TrendsReport(
        series=[
            TrendSeries(
                index=s.index,
                event=s.event,
                math=TrendMath(s.math.value),
                breakdown_value=s.breakdown_value,
                total=s.total,
                points=[
                    TrendPoint(start=p.start, value=p.value, spec=spec, series=s.index, rank=s.rank)
                    for p in s.points
                ],
            )
            for s in result.series
        ],
        computed_at=computed_at,
        cached=cached,
    )


async def resolve_trends(info: Info, input: TrendsInput) -> TrendsReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.report(TRENDS, info.context.project_id, spec)
    return trends_report(spec, report.value, report.computed_at, report.cached)

"""GraphQL types and resolver of the revenue report (contract.graphql)."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Optional

import strawberry

from ..errors import BadInput
from ..reports import periods
from ..reports.revenue import Money, RevenueResult, RevenueSpec, TopPeopleSpec
from .context import Context
from .inputs import PeopleFilter, population
from .pagination import check_first, decode_cursor, encode_cursor
from .types import PageInfo, Period, Person


@strawberry.input
class RevenueReportInput:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval: Period = Period.MONTH
    source_property: str = strawberry.field(
        default="Campaign Source", description="First-touch acquisition property for bySource."
    )
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> RevenueSpec:
        return RevenueSpec(
            from_=self.from_,
            to=self.to,
            interval=periods.Period(self.interval.value),
            source_property=self.source_property,
            people=population(self.people),
        )


@strawberry.type
class RevenuePoint:
    start: datetime
    total: Decimal
    gross: Decimal
    refunds: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@strawberry.type
class RevenueSlice:
    value: Optional[str]
    total: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@strawberry.type
class PersonRevenue:
    person: Person
    revenue: Decimal


@strawberry.type
class PersonRevenueConnection:
    nodes: list[PersonRevenue]
    page_info: PageInfo
    total_count: int


def _after(after: Optional[str]) -> tuple[Decimal, uuid.UUID] | None:
    values = decode_cursor(after, "r")
    if values is None:
        return None
    try:
        revenue = Decimal(values[0])
        if not revenue.is_finite():
            raise ValueError
        return revenue, uuid.UUID(values[1])
    except (ValueError, IndexError, TypeError, InvalidOperation):
        raise BadInput("after", "not a cursor of this list") from None


@strawberry.type
class RevenueReport:
    total: Decimal
    gross: Decimal
    refunds: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal
    series: list[RevenuePoint]
    by_source: list[RevenueSlice]
    computed_at: datetime
    cached: bool
    spec: strawberry.Private[RevenueSpec]
    people_with_revenue: strawberry.Private[int]

    @strawberry.field
    async def top_people(
        self, info: strawberry.Info[Context, None], first: int = 50, after: Optional[str] = None
    ) -> PersonRevenueConnection:
        info.context.require_read()
        check_first(first)
        services, project_id = info.context.services, info.context.project_id
        page = (await services.reports.top_people(project_id, TopPeopleSpec(self.spec, first, _after(after)))).value
        info.context.live_reads = True  # (app/graphql/answers.py)
        rows = await services.people.by_ids(project_id, [pid for pid, _ in page.entries]) if page.entries else {}
        nodes = [PersonRevenue(person=Person(row=rows[pid]), revenue=rev) for pid, rev in page.entries if pid in rows]
        end = encode_cursor("r", str(page.entries[-1][1]), str(page.entries[-1][0])) if page.entries else None
        return PersonRevenueConnection(
            nodes=nodes,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end),
            total_count=self.people_with_revenue,
        )


def _point(start: datetime, m: Money) -> RevenuePoint:
    return RevenuePoint(
        start=start, total=m.total, gross=m.gross, refunds=m.refunds, paying_people=m.paying_people,
        average_revenue_per_paying_person=m.average_revenue_per_paying_person,
    )


def revenue_report(spec: RevenueSpec, result: RevenueResult, computed_at: datetime, cached: bool) -> RevenueReport:
    m = result.money
    return RevenueReport(
        total=m.total,
        gross=m.gross,
        refunds=m.refunds,
        paying_people=m.paying_people,
        average_revenue_per_paying_person=m.average_revenue_per_paying_person,
        series=[_point(p.start, p.money) for p in result.series],
        by_source=[
            RevenueSlice(
                value=s.value, total=s.total, paying_people=s.paying_people,
                average_revenue_per_paying_person=s.average_revenue_per_paying_person,
            )
            for s in result.by_source
        ],
        computed_at=computed_at,
        cached=cached,
        spec=spec,
        people_with_revenue=result.people_with_revenue,
    )


async def resolve_revenue_report(info: strawberry.Info[Context, None], input: RevenueReportInput) -> RevenueReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.revenue(info.context.project_id, spec)
    return revenue_report(spec, report.value, report.computed_at, report.cached)

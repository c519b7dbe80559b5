"""The report fields of Query: funnel, cohort and revenueReport.

The funnel's types and resolver live in app/graphql/funnel.py; the field is only
added when that module exists, so this area works while the funnel is built."""
from __future__ import annotations

import strawberry

from .cohort import CohortReport, resolve_cohort
from .context import Context
from .revenue import RevenueReport, resolve_revenue_report


@strawberry.type
class _CohortRevenueQuery:
    cohort: CohortReport = strawberry.field(resolver=resolve_cohort)
    revenue_report: RevenueReport = strawberry.field(resolver=resolve_revenue_report)


try:
    from .funnel import FunnelInput, FunnelReport, resolve_funnel
except ImportError:  # the funnel area is not in this build (yet)
    ReportsQuery = strawberry.type(type("ReportsQuery", (_CohortRevenueQuery,), {}))
else:

    async def funnel(info: strawberry.Info[Context, None], input: FunnelInput) -> FunnelReport:
        info.context.require_read()
        return await resolve_funnel(info, input)

    @strawberry.type
    class ReportsQuery(_CohortRevenueQuery):
        funnel: FunnelReport = strawberry.field(resolver=funnel)

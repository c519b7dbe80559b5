"""The report fields of Query. Each report's types and resolver live in its own
module (funnel.py, cohort.py, revenue.py, trends.py, stickiness.py,
lifecycle.py, paths.py)."""
from __future__ import annotations

import strawberry

from .cohort import CohortReport, resolve_cohort
from .context import Context
from .funnel import FunnelInput, FunnelReport, resolve_funnel
from .lifecycle import LifecycleReport, resolve_lifecycle
from .paths import PathsReport, resolve_paths
from .revenue import RevenueReport, resolve_revenue_report
from .stickiness import StickinessReport, resolve_stickiness
from .trends import TrendsReport, resolve_trends


async def funnel(info: strawberry.Info[Context, None], input: FunnelInput) -> FunnelReport:
    info.context.require_read()
    return await resolve_funnel(info, input)


@strawberry.type
class ReportsQuery:
    lifecycle: LifecycleReport = strawberry.field(resolver=resolve_lifecycle)
    paths: PathsReport = strawberry.field(resolver=resolve_paths)
    cohort: CohortReport = strawberry.field(resolver=resolve_cohort)
    revenue_report: RevenueReport = strawberry.field(resolver=resolve_revenue_report)
    funnel: FunnelReport = strawberry.field(resolver=funnel)
    trends: TrendsReport = strawberry.field(resolver=resolve_trends)
    stickiness: StickinessReport = strawberry.field(resolver=resolve_stickiness)

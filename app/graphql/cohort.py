"""GraphQL types and resolver of the cohort report (contract.graphql)."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

import strawberry

from ..reports import periods
from ..reports.cohort import CohortResult, CohortSpec
from .context import Context
from .inputs import PeopleFilter, population
from .types import Period


@strawberry.enum
class RetentionMode(Enum):
    FIRST_TIME = "FIRST_TIME"
    RECURRING = "RECURRING"


@strawberry.input
class CohortInput:
    cohort_event: str
    return_event: str
    from_: datetime = strawberry.field(name="from", description="Cohorts whose period starts in [from, to).")
    to: datetime
    cohort_period: Period = Period.WEEK
    bucket: Period = Period.WEEK
    buckets: int = 12
    mode: RetentionMode = RetentionMode.FIRST_TIME
    cumulative: bool = strawberry.field(
        default=False, description="Cell n counts people who returned in bucket n or later."
    )
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> CohortSpec:
        return CohortSpec(
            cohort_event=self.cohort_event,
            return_event=self.return_event,
            from_=self.from_,
            to=self.to,
            cohort_period=periods.Period(self.cohort_period.value),
            bucket=periods.Period(self.bucket.value),
            buckets=self.buckets,
            mode=self.mode.value,
            cumulative=self.cumulative,
            people=population(self.people),
        )


@strawberry.type
class CohortCell:
    index: int
    people: int
    rate: float
    complete: bool


@strawberry.type
class CohortRow:
    start: datetime
    size: int
    cells: list[CohortCell]


@strawberry.type
class CohortReport:
    rows: list[CohortRow]
    computed_at: datetime
    cached: bool


def cohort_report(result: CohortResult, computed_at: datetime, cached: bool) -> CohortReport:
    return CohortReport(
        rows=[
            CohortRow(
                start=row.start,
                size=row.size,
                cells=[CohortCell(index=c.index, people=c.people, rate=c.rate, complete=c.complete) for c in row.cells],
            )
            for row in result.rows
        ],
        computed_at=computed_at,
        cached=cached,
    )


async def resolve_cohort(info: strawberry.Info[Context, None], input: CohortInput) -> CohortReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.cohort(info.context.project_id, spec)
    return cohort_report(report.value, report.computed_at, report.cached)

"""GraphQL types, inputs and resolver of the funnel report (contract.graphql).

`resolve_funnel` turns FunnelInput into a validated FunnelSpec, runs it through
the report service (cache + timeout; app/reports/service.py) and wraps the
FunnelResult. peopleList pages come from the per-person chains: when the query
selects peopleList they are computed with the counts (same statement, same
snapshot, cached with them); a report that came from a cache entry computed
without them gets them once from `ReportService.funnel_people` (a later
snapshot, cached for that report: every page and step agree with each other)."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Optional

import strawberry

from ..errors import BadInput
from ..reports import stats
from ..reports import periods
from ..reports.funnel import (
    ExclusionSpec, FunnelPeople, FunnelResult, FunnelSegmentResult, FunnelSpec, FunnelStepResult, FunnelStepSpec, SegmentSpec,
    compute_funnel,
)
from ..reports.funnel import StepStatus as StepStatusValue
from .context import Context
from .inputs import PeopleFilter, PropertyFilter, population
from .pagination import check_first, decode_cursor, encode_cursor
from .types import PageInfo, Period, Person, PersonConnection

Info = strawberry.Info[Context, None]

StepStatus = strawberry.enum(StepStatusValue, name="StepStatus")

_CURSOR_KIND = "funnel"


# ======================================================================= inputs


@strawberry.input
class FunnelStepInput:
    event: str
    where: Optional[list[PropertyFilter]] = None


@strawberry.input
class SegmentInput:
    person_property: Optional[str] = strawberry.field(
        default=None, description="Segment by the person's current value of this property ..."
    )
    first_step_property: Optional[str] = strawberry.field(
        default=None, description="... or by this property of the person's first step event."
    )
    limit: int = strawberry.field(default=10, description="The most frequent values, the rest folded into null.")
    baseline: Optional[str] = strawberry.field(
        default=None, description="The value that the others are compared to; defaults to the largest segment."
    )

    def to_spec(self) -> SegmentSpec:
        return SegmentSpec(
            person_property=self.person_property,
            first_step_property=self.first_step_property,
            limit=self.limit,
            baseline=self.baseline,
        )


@strawberry.input
class FunnelExclusionInput:
    event: str
    where: Optional[list[PropertyFilter]] = None
    after_step: int
    before_step: int


@strawberry.input
class FunnelInput:
    steps: list[FunnelStepInput]
    from_: datetime = strawberry.field(name="from")
    to: datetime
    conversion_window_seconds: Optional[int] = strawberry.field(
        default=None, description="No window when null: every step only has to fall before `to`."
    )
    segment_by: Optional[SegmentInput] = None
    exclusions: Optional[list[FunnelExclusionInput]] = None
    hold_constant: Optional[str] = strawberry.field(
        default=None, description="An event property whose value every step must share with the first step's event."
    )
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> FunnelSpec:
        steps = []
        for i, step in enumerate(self.steps):
            where = tuple(f.to_domain(f"input.steps[{i}].where[{j}]") for j, f in enumerate(step.where or ()))
            steps.append(FunnelStepSpec(step.event, where))
        exclusions = []
        for i, x in enumerate(self.exclusions or ()):
            where = tuple(f.to_domain(f"input.exclusions[{i}].where[{j}]") for j, f in enumerate(x.where or ()))
            exclusions.append(ExclusionSpec(x.event, x.after_step, x.before_step, where))
        return FunnelSpec(
            steps=tuple(steps),
            from_=self.from_,
            to=self.to,
            window_seconds=self.conversion_window_seconds,
            segment_by=self.segment_by.to_spec() if self.segment_by is not None else None,
            exclusions=tuple(exclusions),
            hold_constant=self.hold_constant,
            people=population(self.people),
        )


# ======================================================================= types


@strawberry.type(
    description="People whose time falls in (previous bucket's upToSeconds, upToSeconds]; null upToSeconds = the rest."
)
class DurationBucket:
    up_to_seconds: Optional[float]
    people: int


@strawberry.type
class DurationStats:
    count: int
    median_seconds: float
    mean_seconds: float
    p90_seconds: float
    histogram: list[DurationBucket]


@strawberry.type
class Significance:
    baseline: Optional[str]
    lift: float = strawberry.field(
        description="Relative change of conversionRate against the baseline's, e.g. 0.12 = +12%."
    )
    z_score: float
    p_value: float = strawberry.field(description="Two-sided p-value of a two-proportion z-test.")
    probability_to_beat_baseline: float = strawberry.field(
        description="Bayesian P(this segment's rate > baseline's), Beta(1,1) priors."
    )
    significant: bool


class _Report:
    """One funnel answer as the resolvers of a request share it: the result, its
    input and computedAt, and the per-person chains once loaded."""

    def __init__(self, result: FunnelResult, spec: FunnelSpec | None, computed_at: datetime):
        self.result, self.spec, self.computed_at = result, spec, computed_at
        self._people: asyncio.Task | None = None

    async def people(self, info: Info) -> FunnelPeople:
        if self.result.people is not None:
            return self.result.people
        if self._people is None:  # the first peopleList of this request loads them for all
            services, project_id = info.context.services, info.context.project_id
            self._people = asyncio.ensure_future(
                services.reports.funnel_people(project_id, self.spec, self.computed_at)
            )
        return (await asyncio.shield(self._people)).value


@strawberry.type
class FunnelStep:
    report: strawberry.Private[_Report]
    segment: strawberry.Private[Optional[int]]
    index: int
    event: str
    people: int
    dropped_off: int = strawberry.field(
        description="Reached the previous step but not this one (0 for the first step)."
    )
    conversion_from_previous: float
    conversion_from_start: float
    time_from_previous: Optional[DurationStats] = strawberry.field(
        description="Null for the first step and where nobody reached the step."
    )

    @strawberry.field
    async def people_list(
        self,
        info: Info,
        status: StepStatus = StepStatusValue.REACHED,
        first: int = 50,
        after: Optional[str] = None,
    ) -> PersonConnection:
        info.context.require_read()
        check_first(first)
        status = StepStatusValue(status)
        after_key = _decode_after(after)
        people = await self.report.people(info)
        page = self.report.result.people_page(self.index, status, first, after_key, self.segment, people)
        ids = [pid for pid, _ in page.people]
        info.context.live_reads = True  # (app/graphql/answers.py)
        rows = await info.context.services.people.by_ids(info.context.project_id, ids) if ids else {}
        end = None
        if page.end is not None:
            end = encode_cursor(_CURSOR_KIND, page.end[0], str(page.end[1]))
        return PersonConnection(
            nodes=[Person(row=rows[pid]) for pid in ids if pid in rows],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=end),
            total_count=page.total,
        )


def _decode_after(after: Optional[str]) -> tuple[int, uuid.UUID] | None:
    """A cursor is the (time, person id) key of the last person of a page. It is
    not tied to one step: in a query, `after` reaches every step's peopleList of
    the list, and in each it means "the people after this key"."""
    values = decode_cursor(after, _CURSOR_KIND)
    if values is None:
        return None
    try:
        micros, pid = values
        return int(micros), uuid.UUID(pid)
    except (ValueError, TypeError, AttributeError):
        raise BadInput("after", "not a cursor of this list") from None


@strawberry.type
class FunnelSegment:
    value: Optional[str]
    steps: list[FunnelStep]
    conversion_rate: float = strawberry.field(
        description="People who reached the last step / people who reached the first."
    )
    comparison: Optional[Significance] = strawberry.field(description="Null for the baseline segment itself.")


@strawberry.type
class FunnelTrendPoint:
    start: datetime
    entered: int
    converted: int
    rate: float


@strawberry.type
class FunnelReport:
    report: strawberry.Private[_Report]
    steps: list[FunnelStep]
    segments: list[FunnelSegment]
    computed_at: datetime
    cached: bool

    @strawberry.field(description="Conversion by the period in which people entered the funnel.")
    async def trend(self, info: Info, interval: Period = Period.DAY) -> list[FunnelTrendPoint]:
        spec = self.report.spec
        assert spec is not None
        interval = periods.Period(interval.value)
        points = periods.count_periods_overlapping(spec.from_, spec.to, interval)
        if points > periods.MAX_SERIES_POINTS:
            raise BadInput(
                "interval", f"the trend would have {points} points (at most {periods.MAX_SERIES_POINTS});"
                " use a longer interval"
            )
        people = await self.report.people(info)
        return [
            FunnelTrendPoint(start=start, entered=e, converted=c, rate=c / e if e else 0.0)
            for start, e, c in people.trend(spec.from_, spec.to, interval)
        ]


# ======================================================================= assembly


def _duration(d: stats.DurationStats | None) -> DurationStats | None:
    if d is None:
        return None
    return DurationStats(
        count=d.count,
        median_seconds=d.median_seconds,
        mean_seconds=d.mean_seconds,
        p90_seconds=d.p90_seconds,
        histogram=[DurationBucket(up_to_seconds=b, people=c) for b, c in d.histogram],
    )


def _steps(report: _Report, steps: list[FunnelStepResult], segment: int | None) -> list[FunnelStep]:
    return [
        FunnelStep(
            report=report,
            segment=segment,
            index=s.index,
            event=s.event,
            people=s.people,
            dropped_off=s.dropped_off,
            conversion_from_previous=s.conversion_from_previous,
            conversion_from_start=s.conversion_from_start,
            time_from_previous=_duration(s.time_from_previous),
        )
        for s in steps
    ]


def _segment(report: _Report, seg: FunnelSegmentResult, number: int) -> FunnelSegment:
    c = seg.comparison
    return FunnelSegment(
        value=seg.value,
        steps=_steps(report, seg.steps, number),
        conversion_rate=seg.conversion_rate,
        comparison=None
        if c is None
        else Significance(
            baseline=c.baseline,
            lift=c.lift,
            z_score=c.z_score,
            p_value=c.p_value,
            probability_to_beat_baseline=c.probability_to_beat_baseline,
            significant=c.significant,
        ),
    )


def funnel_report(
    result: FunnelResult, computed_at: datetime, cached: bool, spec: FunnelSpec | None = None
) -> FunnelReport:
    report = _Report(result, spec, computed_at)
    return FunnelReport(
        report=report,
        steps=_steps(report, result.steps, None),
        segments=[_segment(report, s, i) for i, s in enumerate(result.segments)],
        computed_at=computed_at,
        cached=cached,
    )


def _selects(fields: list, name: str) -> bool:
    """Whether the selection (fields, fragments, nested) asks for field `name`."""
    for f in fields or ():
        if getattr(f, "name", None) == name or _selects(getattr(f, "selections", None), name):
            return True
    return False


async def resolve_funnel(info: Info, input: FunnelInput) -> FunnelReport:
    info.context.require_read()
    spec = input.to_spec()
    services = info.context.services
    if services.reports is None:  # no report service in this build: uncached
        info.context.live_reads = True
        result = await compute_funnel(services.pool, info.context.project_id, spec, with_people=True)
        return funnel_report(result, result.computed_at, False, spec)
    # The per-person chains cost a little (~60 bytes a person): only with peopleList.
    with_people = _selects(info.selected_fields, "peopleList") or _selects(info.selected_fields, "trend")
    report = await services.reports.funnel(info.context.project_id, spec, with_people=with_people)
    return funnel_report(report.value, report.computed_at, report.cached, spec)

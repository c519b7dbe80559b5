"""GraphQL types and resolver of the paths report (contract.graphql): input ->
PathsSpec, PathsResult -> types. The report runs as the PATHS kind of the
report contract (app/reports/paths); a node's peopleList as PATHS_PEOPLE, one
page at a time, by person id."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import strawberry

from ..reports.paths import PATHS, PATHS_PEOPLE, PathsPeopleSpec, PathsResult, PathsSpec
from .context import Context
from .inputs import PeopleFilter, population
from .people_lists import people_page, person_after
from .pagination import check_first
from .types import PersonConnection

Info = strawberry.Info[Context, None]

_CURSOR = "pn"


@strawberry.input
class PathsInput:
    start_event: Optional[str] = None
    end_event: Optional[str] = None
    from_: datetime = strawberry.field(name="from")
    to: datetime
    depth: int = 4
    limit: int = 10
    people: Optional[PeopleFilter] = None

    def to_spec(self) -> PathsSpec:
        return PathsSpec(
            from_=self.from_,
            to=self.to,
            start_event=self.start_event,
            end_event=self.end_event,
            depth=self.depth,
            limit=self.limit,
            people=population(self.people),
        )


@strawberry.type
class PathNode:
    step: int
    event: Optional[str] = strawberry.field(description="Null: the names folded together past `limit`.")
    people: int
    spec: strawberry.Private[PathsSpec]

    @strawberry.field(description="The people at this node, by person id.")
    async def people_list(self, info: Info, first: int = 50, after: Optional[str] = None) -> PersonConnection:
        info.context.require_read()
        check_first(first)
        cursor = person_after(after, _CURSOR)
        if first == 0:
            return await people_page(info, (), self.people > 0, self.people, _CURSOR)
        page_spec = PathsPeopleSpec(self.spec, self.step, self.event, first, cursor)
        page = (await info.context.services.reports.report(PATHS_PEOPLE, info.context.project_id, page_spec)).value
        return await people_page(info, page.people, page.has_next_page, self.people, _CURSOR)


@strawberry.type
class PathLink:
    from_step: int
    source: Optional[str]
    target: Optional[str]
    people: int


@strawberry.type
class PathsReport:
    nodes: list[PathNode]
    links: list[PathLink]
    computed_at: datetime
    cached: bool


def paths_report(spec: PathsSpec, result: PathsResult, computed_at: datetime, cached: bool) -> PathsReport:
    return PathsReport(
        nodes=[PathNode(step=n.step, event=n.event, people=n.people, spec=spec) for n in result.nodes],
        links=[PathLink(from_step=x.from_step, source=x.source, target=x.target, people=x.people) for x in result.links],
        computed_at=computed_at,
        cached=cached,
    )


async def resolve_paths(info: Info, input: PathsInput) -> PathsReport:
    info.context.require_read()
    spec = input.to_spec()
    report = await info.context.services.reports.report(PATHS, info.context.project_id, spec)
    return paths_report(spec, report.value, report.computed_at, report.cached)

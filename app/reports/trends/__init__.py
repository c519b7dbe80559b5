"""The trends report (DESIGN.md §5 "Trends") on the report contract
(app/reports/contract.py): spec.py, statement.py, assembly.py; TRENDS the
report, TRENDS_PEOPLE the peopleList of a PEOPLE point."""
from __future__ import annotations

from ..contract import ReportKind
from .assembly import PeoplePage, TrendPoint, TrendSeries, TrendsResult, assemble, assemble_people
from .spec import BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
from .statement import build, build_parts, build_people, build_people_per_shard, build_per_shard

# The events of a series are read by index (events_name_person_ts, index-only
# for the counting maths); with the default random_page_cost the planner
# scans the whole table for a name that is half of the events, 2-4x slower on
# a cached table (bench trend at 200k events, statement alone, 5 interleaved
# rounds, medians of 5: 472-691 ms, median 568 -> 315-512 ms, median 339).
STATEMENT_SETTINGS = "SELECT set_config('random_page_cost', '1.1', true)"

# In parts (build_parts: per range of person ids, the assembly folding the
# breakdown and finding the medians over all of them); peopleList
# (TRENDS_PEOPLE) is one statement.
TRENDS: ReportKind[TrendsSpec, TrendsResult] = ReportKind("trends", build, assemble, STATEMENT_SETTINGS,
                                                     build_per_shard, build_parts=build_parts)
TRENDS_PEOPLE: ReportKind[TrendPeopleSpec, PeoplePage] = ReportKind(
    "trends.people", build_people, assemble_people, STATEMENT_SETTINGS, build_people_per_shard
)

__all__ = [
    "TRENDS", "TRENDS_PEOPLE", "BreakdownSpec", "PeoplePage", "SeriesSpec", "TrendMath", "TrendPeopleSpec",
    "TrendPoint", "TrendSeries", "TrendsResult", "TrendsSpec",
]

"""The trends report (DESIGN.md §5 "Trends") on the report contract
(app/reports/contract.py): spec.py, statement.py, assembly.py; TRENDS the
report, TRENDS_PEOPLE the peopleList of a PEOPLE point."""
from __future__ import annotations

from ..contract import ReportKind
from .assembly import PeoplePage, TrendPoint, TrendSeries, TrendsResult, assemble, assemble_people
from .spec import BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
from .statement import build, build_people

TRENDS: ReportKind[TrendsSpec, TrendsResult] = ReportKind("trends", build, assemble)
TRENDS_PEOPLE: ReportKind[TrendPeopleSpec, PeoplePage] = ReportKind("trends.people", build_people, assemble_people)

__all__ = [
    "TRENDS", "TRENDS_PEOPLE", "BreakdownSpec", "PeoplePage", "SeriesSpec", "TrendMath", "TrendPeopleSpec",
    "TrendPoint", "TrendSeries", "TrendsResult", "TrendsSpec",
]

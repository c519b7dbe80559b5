"""The revenue report's assembly: the statement's rows, each of a named kind
(column `kind`, the values of RowKind), become a RevenueResult; the topPeople
statement's rows a TopPeoplePage. Plain Python, no database; the money stays
the exact NUMERIC values (Decimals) PostgreSQL computed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Sequence

from ..periods import to_utc
from .spec import RevenueSpec, TopPeopleSpec


class RowKind(str, Enum):
    """The statement's rows, by their column `kind` (written by
    app/reports/revenue/statement.py)."""

    # The one row of the whole range: the money and `people` (topPeople.totalCount).
    SUMMARY = "summary"
    # One row per interval period, by `start`.
    PERIOD = "period"
    # One row per first-touch source `value`, in the answer's order.
    SOURCE = "source"


@dataclass(frozen=True)
class Money:
    total: Decimal
    gross: Decimal
    refunds: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@dataclass(frozen=True)
class RevenuePoint:
    start: datetime
    money: Money


@dataclass(frozen=True)
class RevenueSlice:
    value: str | None
    total: Decimal
    paying_people: int
    average_revenue_per_paying_person: Decimal


@dataclass(frozen=True)
class RevenueResult:
    money: Money
    series: tuple[RevenuePoint, ...]
    by_source: tuple[RevenueSlice, ...]
    # topPeople.totalCount: people with at least one Revenue event in range.
    people_with_revenue: int


@dataclass(frozen=True)
class TopPeoplePage:
    entries: tuple[tuple[uuid.UUID, Decimal], ...]
    has_next_page: bool


def _money(row: Any) -> Money:
    return Money(row["total"], row["gross"], row["refunds"], row["paying"], row["average"])


def assemble(rows: Sequence[Any], spec: RevenueSpec, computed_at: datetime) -> RevenueResult:
    """Rows in the statement's order (periods by start, sources by total
    descending then value): exactly one SUMMARY."""
    (summary,) = [r for r in rows if r["kind"] == RowKind.SUMMARY.value]
    return RevenueResult(
        money=_money(summary),
        series=tuple(
            RevenuePoint(start=to_utc(r["start"]), money=_money(r)) for r in rows if r["kind"] == RowKind.PERIOD.value
        ),
        by_source=tuple(
            RevenueSlice(r["value"], r["total"], r["paying"], r["average"])
            for r in rows if r["kind"] == RowKind.SOURCE.value
        ),
        people_with_revenue=summary["people"],
    )


def assemble_top_people(rows: Sequence[Any], spec: TopPeopleSpec, computed_at: datetime) -> TopPeoplePage:
    """Rows (person_id, revenue): the page and one more when there is a next page."""
    entries = tuple((r["person_id"], r["revenue"]) for r in rows[: spec.first])
    return TopPeoplePage(entries=entries, has_next_page=len(rows) > spec.first)

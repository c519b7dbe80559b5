"""The revenue report's assembly: the statement's rows, each of a named kind
(column `kind`, the values of RowKind), become a RevenueResult; the topPeople
statement's rows a TopPeoplePage. Plain Python, no database; the money stays
the exact NUMERIC values (Decimals) PostgreSQL computed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from enum import Enum
from typing import Any, Sequence

from ..parts import EXACT
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
    descending then value): one SUMMARY, or one per part of build_parts
    (each over the persons of a range of ids), which are added up, as are
    the SOURCE rows of one value (and their order and averages computed
    again: _added_up)."""
    summaries = [r for r in rows if r["kind"] == RowKind.SUMMARY.value]
    sources = [r for r in rows if r["kind"] == RowKind.SOURCE.value]
    if len(summaries) == 1:
        (summary,) = summaries
        money, people = _money(summary), summary["people"]
        by_source = tuple(RevenueSlice(r["value"], r["total"], r["paying"], r["average"]) for r in sources)
    else:
        money, people, by_source = _added_up(summaries, sources)
    return RevenueResult(
        money=money,
        series=tuple(
            RevenuePoint(start=to_utc(r["start"]), money=_money(r)) for r in rows if r["kind"] == RowKind.PERIOD.value
        ),
        by_source=by_source,
        people_with_revenue=people,
    )


def average_cents(total: Decimal, paying: int) -> Decimal:
    """statement.py's avg_cents in Python: total / paying rounded half away
    from zero to cents, exactly (integer division of exact Decimals), with
    the same scale (2), in EXACT (no rounding to 28 digits)."""
    if paying == 0:
        return Decimal("0.00")
    sign = (total > 0) - (total < 0)
    with localcontext(EXACT):
        return Decimal(sign) * ((abs(total) * 200 + paying) // (2 * paying)) * Decimal("0.01")


def _added_up(summaries: list[Any], sources: list[Any]) -> tuple[Money, int, tuple[RevenueSlice, ...]]:
    """The parts' SUMMARY rows added up (money, paying people, people) and
    their SOURCE rows per value, in the statement's order (SOURCE_ORDER:
    total descending, then the value by code point, no value last), each
    with its average. The sums in EXACT: PostgreSQL's numeric sums of the
    one statement are not rounded either."""
    with localcontext(EXACT):
        total = sum((r["total"] for r in summaries), Decimal(0))
        gross = sum((r["gross"] for r in summaries), Decimal(0))
        refunds = sum((r["refunds"] for r in summaries), Decimal(0))
        by_value: dict[str | None, list[Any]] = {}
        for r in sources:
            got = by_value.setdefault(r["value"], [Decimal(0), 0])
            got[0] += r["total"]
            got[1] += r["paying"]
    paying = sum(r["paying"] for r in summaries)
    people = sum(r["people"] for r in summaries)
    order = sorted(by_value.items(), key=lambda kv: (-kv[1][0], kv[0] is None, kv[0] or ""))
    return (
        Money(total, gross, refunds, paying, average_cents(total, paying)),
        people,
        tuple(RevenueSlice(value, t, n, average_cents(t, n)) for value, (t, n) in order),
    )


def assemble_top_people(rows: Sequence[Any], spec: TopPeopleSpec, computed_at: datetime) -> TopPeoplePage:
    """Rows (person_id, revenue): the page and one more when there is a next page."""
    entries = tuple((r["person_id"], r["revenue"]) for r in rows[: spec.first])
    return TopPeoplePage(entries=entries, has_next_page=len(rows) > spec.first)

"""Period math shared by the cohort and revenue reports (DESIGN.md §5), pure.

All times are UTC. A period is an HOUR, a calendar DAY, an ISO WEEK (from Monday
00:00) or a calendar MONTH. Cohort buckets are fixed lengths instead: HOUR 3600 s,
DAY 86400 s, WEEK 604800 s and MONTH 30 days, as Kissmetrics does.

The SQL side of the same rules lives in `sql_period_start`: PostgreSQL's
date_trunc with an explicit 'UTC' zone, so the session's TimeZone never matters.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum

__all__ = [
    "BUCKET_SECONDS",
    "MAX_SERIES_POINTS",
    "Period",
    "bucket_seconds",
    "period_end",
    "period_start",
    "periods_overlapping",
    "sql_period_start",
    "to_utc",
]


class Period(str, Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


BUCKET_SECONDS: dict[Period, int] = {
    Period.HOUR: 3600,
    Period.DAY: 86400,
    Period.WEEK: 7 * 86400,
    Period.MONTH: 30 * 86400,
}

# date_trunc units; ISO weeks start on Monday, which is what date_trunc('week') does.
_SQL_UNIT = {Period.HOUR: "hour", Period.DAY: "day", Period.WEEK: "week", Period.MONTH: "month"}

# A revenue series longer than this is refused (an HOUR series over 13 months).
MAX_SERIES_POINTS = 10_000


def to_utc(t: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def bucket_seconds(period: Period | str) -> int:
    return BUCKET_SECONDS[Period(period)]


def period_start(t: datetime, period: Period | str) -> datetime:
    """Start of the UTC period that holds t."""
    period = Period(period)
    t = to_utc(t)
    if period is Period.HOUR:
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())  # Monday is 0
    return day.replace(day=1)


def period_end(t: datetime, period: Period | str) -> datetime:
    """End (exclusive) of the UTC period that holds t: the next period's start."""
    period = Period(period)
    start = period_start(t, period)
    if period is Period.HOUR:
        return start + timedelta(hours=1)
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def periods_overlapping(from_: datetime, to: datetime, period: Period | str) -> list[tuple[datetime, datetime]]:
    """(start, end) of every period that overlaps [from_, to), in order; none when
    the range is empty."""
    from_, to = to_utc(from_), to_utc(to)
    out: list[tuple[datetime, datetime]] = []
    if from_ >= to:
        return out
    start = period_start(from_, period)
    while start < to:
        end = period_end(start, period)
        out.append((start, end))
        start = end
    return out


def count_periods_overlapping(from_: datetime, to: datetime, period: Period | str) -> int:
    """len(periods_overlapping(...)) without building the list (for input limits)."""
    period = Period(period)
    from_, to = to_utc(from_), to_utc(to)
    if from_ >= to:
        return 0
    first = period_start(from_, period)
    last = period_start(to - timedelta(microseconds=1), period)
    if period is Period.MONTH:
        return (last.year - first.year) * 12 + last.month - first.month + 1
    step = {Period.HOUR: 3600, Period.DAY: 86400, Period.WEEK: 7 * 86400}[period]
    return int((last - first).total_seconds()) // step + 1


def sql_period_start(column: str, period: Period | str) -> str:
    """SQL for the start of the UTC period holding a timestamptz expression."""
    return f"date_trunc('{_SQL_UNIT[Period(period)]}', {column}, 'UTC')"

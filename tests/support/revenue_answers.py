"""The revenue report's answer in the oracle's shape (tests/support/reference.py
`revenue`), compared exactly (`exact`: Decimals by value and by text), with
every page of topPeople read by following the cursors."""
from __future__ import annotations

from decimal import Decimal

from app.reports.revenue import RevenueSpec, TopPeopleSpec


def money_dict(m) -> dict:
    return {
        "total": m.total,
        "gross": m.gross,
        "refunds": m.refunds,
        "payingPeople": m.paying_people,
        "averageRevenuePerPayingPerson": m.average_revenue_per_paying_person,
    }


def exact(value):
    """Decimals compared by value AND by their text (what the API prints), except
    where the oracle keeps an exponent form (1E+2) that NUMERIC prints as 100."""
    if isinstance(value, Decimal):
        return ("D", value, str(value) if "E" not in str(value) else None)
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [exact(v) for v in value]
    return value


def as_dict(result, top: list) -> dict:
    out = money_dict(result.money)
    out["series"] = [{"start": p.start, **money_dict(p.money)} for p in result.series]
    out["bySource"] = [
        {"value": s.value, "total": s.total, "payingPeople": s.paying_people,
         "averageRevenuePerPayingPerson": s.average_revenue_per_paying_person}
        for s in result.by_source
    ]
    out["topPeople"] = top
    return out


async def all_top_people(services, project_id, spec: RevenueSpec, page_size: int) -> list:
    """Every page of topPeople, following the cursors."""
    out, after = [], None
    while True:
        page = (await services.reports.top_people(project_id, TopPeopleSpec(spec, page_size, after))).value
        out += [(str(pid), rev) for pid, rev in page.entries]
        if not page.has_next_page:
            return out
        after = page.entries[-1][1], page.entries[-1][0]

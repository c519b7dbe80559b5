"""app/storage/filters.py: the SQL of a property filter and the reference's
reading of it (tests/support/reference.py) agree, on the edges of "numeric string"
and "text form" in particular (docs/decisions.md, "Property filters")."""
from __future__ import annotations

import orjson
import pytest

from app.storage.filters import FilterOp, Params, PropertyFilter, filter_sql
from tests.support.reference import matches_filter

STORED = ["12", " 12", "12 ", "12abc", "1e3", "1E+003", "1e999", "1e1000", "-.5", "+3.", ".", "", "0x10",
          12, 12.5, -0.5, 1000, True, None, "Infinity", "NaN"]
NUMERIC_OPS = [FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE]


async def sql_matches(pool, properties: dict, f: PropertyFilter) -> bool:
    params = Params(orjson.dumps(properties).decode())
    # In a WHERE clause NULL (a comparison with no number) selects nothing.
    return await pool.fetchval(f"SELECT {filter_sql('($1::text)::jsonb', f, params)}", *params.values) is True


@pytest.mark.parametrize("op", NUMERIC_OPS + [FilterOp.EQ, FilterOp.NEQ])
@pytest.mark.parametrize("bound", [12, "12", 999.5, "1e3", " 12"])
async def test_sql_agrees_with_the_reference(services, op, bound):
    for stored in STORED:
        properties = {"p": stored}
        f = PropertyFilter("p", op, bound)
        expected = matches_filter(properties, {"key": "p", "op": op.value, "value": bound})
        assert await sql_matches(services.pool, properties, f) is expected, (stored, op, bound)


async def test_numeric_strings_are_exactly_the_documented_form(services):
    gt = PropertyFilter("p", FilterOp.GT, 0)
    for text, numeric in [("12", True), ("+3.", True), ("-.5", False), ("1E+003", True), ("1e999", True),
                          (" 12", False), ("12 ", False), ("1e1000", False), ("0x10", False), ("", False)]:
        assert await sql_matches(services.pool, {"p": text}, gt) is numeric, text

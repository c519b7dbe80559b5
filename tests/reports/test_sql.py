"""The statement composer (app/reports/sql.py) and the population part."""
from __future__ import annotations

import uuid

import pytest

from app.errors import BadInput
from app.reports.population import Population, normalised, population_part
from app.reports.sql import Statement, person_id_ranges
from app.storage.filters import FilterOp, Params, PropertyFilter


def test_parts_in_order_with_their_parameters():
    q = Statement(Params("project"))
    a = q.part("a", f"SELECT {q.param(1)} AS x")
    q.part("b", f"SELECT x + {q.param(2)} FROM {a}", materialized=True)
    sql, params = q.select("SELECT * FROM b")
    assert sql == "WITH\na AS (\nSELECT $2 AS x\n),\nb AS MATERIALIZED (\nSELECT x + $3 FROM a\n)\nSELECT * FROM b"
    assert params == ["project", 1, 2]


def test_recursive_and_refusals():
    q = Statement()
    q.part("walk", "SELECT 1 AS n UNION ALL SELECT n + 1 FROM walk WHERE n < 3", recursive=True)
    assert q.sql("SELECT * FROM walk").startswith("WITH RECURSIVE\nwalk AS (")
    assert Statement().sql(" SELECT 1 ") == "SELECT 1"
    with pytest.raises(ValueError):
        q.part("walk", "SELECT 2")
    with pytest.raises(ValueError):
        q.part("Bad Name", "SELECT 2")


def test_person_id_ranges_cut_every_id_into_exactly_one_range():
    assert person_id_ranges(1) == [None]
    assert person_id_ranges(2) == ["e.person_id < '80000000-0000-0000-0000-000000000000'::uuid",
                                   "e.person_id >= '80000000-0000-0000-0000-000000000000'::uuid"]
    quarters = person_id_ranges(4, "p.id")
    assert quarters[1] == ("p.id >= '40000000-0000-0000-0000-000000000000'::uuid"
                           " AND p.id < '80000000-0000-0000-0000-000000000000'::uuid")
    bounds = [0x40000000 << 96, 0x80000000 << 96, 0xC0000000 << 96]
    for n in (0, bounds[0] - 1, bounds[0], bounds[1], bounds[2] - 1, bounds[2], (1 << 128) - 1):
        # which ranges hold the id n, read from the conditions' bounds
        inside = [all(_holds(n, c) for c in r.split(" AND ")) for r in quarters]
        assert inside.count(True) == 1, n


def _holds(n: int, condition: str) -> bool:
    _, op, literal = condition.split(" ", 2)
    bound = uuid.UUID(literal.split("'")[1]).int
    return n >= bound if op == ">=" else n < bound


def test_population_part():
    q = Statement(Params(uuid.uuid4()))
    assert population_part(q, None) is None and population_part(q, Population()) is None and not q.parts
    everyone_but = Population(properties=(PropertyFilter("Plan", FilterOp.EQ, "pro"),), did_event="Signed Up")
    assert population_part(q, everyone_but) == "population"
    sql = q.sql("SELECT id FROM population")
    assert "p.merged_into IS NULL" in sql and "e.name = $4::text" in sql and q.params.values[1:] == [
        "Plan", '"pro"', "Signed Up"]
    assert normalised(None) is None and normalised(Population()) is None
    assert Population(did_event="x") == Population(did_event="x") != Population(did_event="y")


def test_population_refuses_bad_input_naming_the_field():
    with pytest.raises(BadInput) as caught:
        Population(did_event="")
    assert caught.value.field == "input.people.didEvent"
    with pytest.raises(BadInput) as caught:
        Population(properties=(PropertyFilter("", FilterOp.EQ, 1),))
    assert caught.value.field == "input.people.properties[0].key"

"""A tiny composer of SQL statements from named parts (CTEs), so that a report's
statement is built from small functions that each return one part, tested
alone, and never by replacing text inside SQL already written.

    q = Statement(Params(project_id))
    events = q.part("in_range", f"SELECT ... WHERE e.ts >= {q.param(spec.from_)}")
    q.part("per_person", f"SELECT person_id, count(*) AS n FROM {events} GROUP BY 1")
    sql, params = q.select("SELECT * FROM per_person")

`part` returns the part's name, to be used in later parts; parts come out in
the order they were added. A part may be MATERIALIZED or NOT MATERIALIZED
(default: the planner's choice); `recursive=True` on any part makes the
statement WITH RECURSIVE (which every part then may use).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from ..storage.filters import Params

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Part:
    name: str
    body: str
    materialized: bool | None = None
    recursive: bool = False

    def sql(self) -> str:
        how = "" if self.materialized is None else ("MATERIALIZED " if self.materialized else "NOT MATERIALIZED ")
        return f"{self.name} AS {how}(\n{self.body.strip()}\n)"


class Statement:
    """Named parts and a final SELECT, with one list of positional parameters."""

    def __init__(self, params: Params | None = None):
        self.params = params if params is not None else Params()
        self.parts: list[Part] = []

    def param(self, value: Any) -> str:
        """A placeholder ($n) for `value`."""
        return self.params.add(value)

    def part(self, name: str, body: str, *, materialized: bool | None = None, recursive: bool = False) -> str:
        if not _NAME.match(name):
            raise ValueError(f"not a part name: {name!r}")
        if any(p.name == name for p in self.parts):
            raise ValueError(f"a part named {name!r} already exists")
        self.parts.append(Part(name, body, materialized, recursive))
        return name

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.parts)

    def sql(self, final: str) -> str:
        if not self.parts:
            return final.strip()
        head = "WITH RECURSIVE" if any(p.recursive for p in self.parts) else "WITH"
        return f"{head}\n" + ",\n".join(p.sql() for p in self.parts) + "\n" + final.strip()

    def select(self, final: str) -> tuple[str, list[Any]]:
        """The whole statement ending in `final`, and its parameters."""
        return self.sql(final), list(self.params.values)


def person_id_ranges(parts: int, column: str = "e.person_id") -> list[str | None]:
    """Conditions on `column` cutting the person ids in `parts` ranges of
    equal size ([0, b1), [b1, b2), ..., [bn, end]; None for one part: every
    person). Ids are uniform (uuid5/uuid4), so the ranges hold about as many
    persons each; a report that runs one branch per range (a UNION ALL with
    no window under it) lets PostgreSQL run the branches side by side
    (Parallel Append), and a person is in one range, so the branches add up."""
    if parts == 1:
        return [None]
    bounds = [f"'{uuid.UUID(int=(i << 128) // parts)}'::uuid" for i in range(1, parts)]
    return [
        " AND ".join(c for c in (lo and f"{column} >= {lo}", hi and f"{column} < {hi}") if c)
        for lo, hi in zip([None, *bounds], [*bounds, None])
    ]


# One part of a report's build_parts: (i, n), the i-th of n ranges of person
# ids (person_id_ranges); None where used: every person.
IdRange = tuple[int, int]


def in_part(part: IdRange | None, column: str) -> str | None:
    """The person_id_ranges condition of `part` on `column`, or None (every person)."""
    return None if part is None else person_id_ranges(part[1], column)[part[0]]


def and_condition(condition: str | None) -> str:
    """` AND condition`, to append to a WHERE clause, or nothing for None
    (e.g. a part's person_id_ranges condition, None for every person)."""
    return "" if condition is None else f" AND {condition}"

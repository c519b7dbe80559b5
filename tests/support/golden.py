"""Golden SQL: a report statement built from its spec, compared with the text
stored in tests/reports/golden/<name>.sql (the statement, then its parameters
one per line). A change to a statement shows as a diff to review;
WHODID_UPDATE_GOLDEN=1 rewrites the files instead of comparing."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterable

GOLDEN = Path(__file__).resolve().parent.parent / "reports" / "golden"
# Every golden statement is built for this project, so its text is stable.
PROJECT = uuid.UUID("00000000-0000-0000-0000-000000000001")

Statement = tuple[str, list]


def render(sql: str, params: list) -> str:
    assert params[0] == PROJECT
    lines = [sql.rstrip(), "", "-- parameters"]
    lines += [f"-- ${i}: {p!r}" for i, p in enumerate(params, 1)]
    return "\n".join(lines) + "\n"


def assert_golden(name: str, statement: Statement) -> None:
    text = render(*statement)
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("WHODID_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with WHODID_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()


def assert_one_placeholder_per_parameter(statements: Iterable[tuple[str, Callable[[], Statement]]]) -> None:
    """$1..$n each appear and $n+1 does not: no parameter is sent unused and
    no placeholder is left without a value."""
    for name, make in statements:
        sql, params = make()
        for i in range(1, len(params) + 1):
            assert f"${i}" in sql, (name, i)
        assert f"${len(params) + 1}" not in sql, name

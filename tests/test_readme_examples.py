"""README.md's GraphQL examples run on demo data and give the answers it shows.

Every ```graphql block of the README is run, with the `demo` project's read
key, against a fresh database loaded by the README's own `whodid demo` command
(run as a process, as a reader would); each must answer without errors and
with something in it, and where a ```json block follows, the answer must
contain what it shows: objects may hold more keys than shown, a list ending in
"…" may hold more items, "…" stands for any value, and a number shown with n
decimals is the answer rounded to n decimals."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from app.config import Settings
from app.server import create_app
from tests.support.database import scratch_database
from tests.support.server import serving

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```graphql\n(?P<query>.*?)```(?:\s*```json\n(?P<expected>.*?)```)?", re.S)
ELIDED = "…"


def examples() -> list[tuple[str, object]]:
    found = []
    for match in BLOCK.finditer(README):
        expected = match["expected"]
        found.append((match["query"], orjson.loads(expected) if expected is not None else None))
    return found


def demo_command() -> list[str]:
    """The README's `whodid demo …` line, as its arguments."""
    [line] = [line for line in README.splitlines() if "whodid demo --anchor" in line and line.startswith(".venv")]
    words = shlex.split(line.split("#")[0])
    return words[words.index("demo"):]


def contains(actual, expected, where: str = "data") -> list[str]:
    """Where `actual` differs from what the README shows (empty when it does not)."""
    if expected == ELIDED:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {actual!r} is not an object"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += contains(actual[key], value, f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: {actual!r} is not a list"]
        more = bool(expected) and expected[-1] == ELIDED
        shown = expected[:-1] if more else expected
        if (len(actual) < len(shown)) if more else (len(actual) != len(shown)):
            return [f"{where}: {len(actual)} items, the README shows {len(shown)}{' or more' if more else ''}"]
        return [p for i, value in enumerate(shown) for p in contains(actual[i], value, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        decimals = len(repr(expected).split(".")[1]) if "." in repr(expected) else 0
        return [] if round(actual, decimals) == expected else [f"{where}: {actual!r}, the README shows {expected!r}"]
    return [] if actual == expected and type(actual) is type(expected) else [
        f"{where}: {actual!r}, the README shows {expected!r}"]


def has_content(value) -> bool:
    """Something to read: a non-empty list, a non-zero number or a string somewhere."""
    if isinstance(value, dict):
        return any(has_content(v) for v in value.values())
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value not in ("", "0", "0.00")


def test_the_matching_rules():
    assert contains({"a": 1.23456, "b": [1, 2, 3]}, {"a": 1.2346, "b": [1, ELIDED]}) == []
    assert contains({"a": [1, 2]}, {"a": [1]}) == ["data.a: 2 items, the README shows 1"]
    assert contains({"a": 0.1}, {"a": 0.2}) and contains({"a": None}, {"a": 0}) and contains({}, {"a": ELIDED})
    assert not has_content({"a": {"b": [], "c": 0}}) and has_content({"a": [{}]})


@pytest.fixture(scope="module")
def demo_database(admin_url):
    with scratch_database(admin_url, "whodid_readme") as url:
        done = subprocess.run([sys.executable, "-m", "app", *demo_command()], cwd=ROOT,
                              env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Created project 'demo'" in done.stdout  # the project the README names
        read_key = re.search(r"read key .*?(rk_\S+)", done.stdout)[1]
        yield url, read_key


@pytest.fixture(scope="module")
async def demo_server(demo_database):
    url, read_key = demo_database
    async with serving(create_app(Settings(), dsn=url)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=120,
                                     headers={"Authorization": f"Bearer {read_key}"}) as client:
            yield client


def test_the_readme_has_examples_with_answers():
    found = examples()
    assert len(found) >= 5
    assert all(expected is not None for _, expected in found), "every example shows its answer"
    assert demo_command()[:3] == ["demo", "--anchor", "2026-06-30"]


@pytest.mark.parametrize("query, expected", examples(), ids=[q.split("(")[0].strip("{ \n") for q, _ in examples()])
async def test_readme_example_runs_on_demo_data(demo_server, query, expected):
    response = await demo_server.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data = body["data"]
    for field, value in data.items():
        assert value is not None and has_content(value), f"{field} is empty on demo data: {value}"
    if expected is not None:
        problems = contains(data, expected)
        assert problems == [], "\n".join(problems) + "\n" + orjson.dumps(data).decode()[:4000]

"""The tests mirror the source: shared code lives in tests/support/ (and the
oracle in tests/support/reference.py); no test module imports another test module or a
conftest, so each runs alone and in any order."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.support.ordering import EXAMPLES_CHECK

TESTS = Path(__file__).resolve().parent

# Test modules other test modules may import: none (the list stays so that the check reads
# the same way if one ever has to be admitted for a while; it only shrinks).
KNOWN: set[str] = set()
# Where the helpers that test modules used to take from a conftest live now.
MOVED = {
    "tests.conftest": "tests.support.server (make_project, serving, GraphQLClient) or tests.support.database"
                      " (free_port, scratch_database, admin_execute)",
    "tests.live.conftest": "tests.support.live",
    "tests.security.conftest": "tests.support.leaks",
    "tests.dashboard.conftest": "tests.support.dashboard",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another_or_a_conftest():
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS).as_posix()
        if relative.startswith("support/"):
            continue
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "tests":
                continue
            if parts[-1] == "conftest" and not path.name == "conftest.py":
                wrong.append(f"{relative} imports {name}: import from {MOVED.get(name, 'tests/support/')}")
            elif parts[-1].startswith("test_") and name not in KNOWN:
                wrong.append(f"{relative} imports the test module {name}: move what it shares to tests/support/")
    assert not wrong, "import shared test code from tests/support/:\n" + "\n".join(wrong)


def test_shared_test_code_lives_in_support():
    """Outside tests/support/ there are only test modules and conftest files:
    a helper module beside the tests (worlds, answers) is shared code."""
    stray = [
        path.relative_to(TESTS).as_posix() for path in sorted(TESTS.rglob("*.py"))
        if not path.relative_to(TESTS).as_posix().startswith("support/")
        and not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    ]
    assert not stray, f"move these to tests/support/: {stray}"


def _given(function: ast.AST) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "given"
               for d in getattr(function, "decorator_list", []))


def test_checks_that_read_a_property_tests_counts_are_put_after_it():
    """A test that reads what a property test counted (a module-level *EXAMPLES)
    runs after it in any order only when tests/support/ordering.py knows it by
    its name: `test_..._ran_examples` or `test_..._ran_many_varied_examples`."""
    unknown = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test_"):
                continue
            if _given(node):
                continue
            reads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id.endswith("EXAMPLES")
                     and n.id != "MAX_EXAMPLES"}
            if reads and not EXAMPLES_CHECK.match(node.name):
                unknown.append(f"{path.relative_to(TESTS).as_posix()}::{node.name} reads {sorted(reads)}")
    assert not unknown, "name these test_..._ran_examples (tests/support/ordering.py):\n" + "\n".join(unknown)

"""The tests mirror the source: shared code lives in tests/support/ (and the
oracle in tests/reference.py); no test module imports another test module or a
conftest, so each runs alone and in any order."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Left for the funnel split (issue 11, point 3): the funnel oracle helpers
# (load, oracle, compare) still live in test_funnel_properties.py.
KNOWN = {
    ("reports/test_funnel_lone.py", "tests.reports.test_funnel_properties"),
    ("reports/test_funnel_statistics.py", "tests.reports.test_funnel_properties"),
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
            if parts[-1] == "conftest" and not path.name == "conftest.py" or \
                    parts[-1].startswith("test_") and (relative, name) not in KNOWN:
                wrong.append(f"{relative} imports {name}")
    assert not wrong, "import shared test code from tests/support/:\n" + "\n".join(wrong)

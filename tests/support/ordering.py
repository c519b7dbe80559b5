"""The suite runs in any order (pytest-randomly shuffles it in every run; see
tests/conftest.py). One kind of test reads what another left: the checks that a
property test ran enough varied examples (`test_..._ran_examples`,
`test_..._ran_many_varied_examples`) read the counts that the module's
property tests collected. `after_their_property_tests` puts each such check
after the last property test of its module, whatever the order otherwise, and
skips it when none of them is in the run (`-k`, a single node id)."""
from __future__ import annotations

import re

import pytest

EXAMPLES_CHECK = re.compile(r"^test_\w*_ran_(many_varied_)?examples$")


def is_examples_check(item) -> bool:
    return bool(EXAMPLES_CHECK.match(getattr(item, "originalname", None) or item.name))


def is_property_test(item) -> bool:
    return bool(getattr(getattr(item, "obj", None), "is_hypothesis_test", False))


def after_their_property_tests(items: list) -> None:
    """Reorder `items` in place: each examples check right after the last
    property test of its module (or skipped when there is none)."""
    checks = [item for item in items if is_examples_check(item)]
    if not checks:
        return
    for check in checks:
        items.remove(check)
    for check in checks:
        module = check.nodeid.split("::")[0]
        last = max((i for i, item in enumerate(items)
                    if item.nodeid.split("::")[0] == module and is_property_test(item)), default=None)
        if last is None:
            check.add_marker(pytest.mark.skip(reason="its module's property tests are not in this run"))
            items.append(check)
        else:
            items.insert(last + 1, check)

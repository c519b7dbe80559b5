"""The `parts` fixture: a report test run both ways, with the report
service's parts (ReportKind.build_parts) side by side on two connections of
one snapshot, and as the one statement (app/reports/service.py
`_fetch_parts`). A plugin of tests/conftest.py: a test names it in its
arguments."""
from __future__ import annotations

import pytest


@pytest.fixture(params=[2, 1], ids=["parts", "one-statement"])
def parts(request, services):
    was = services.reports.parts
    services.reports.parts = request.param
    yield request.param
    services.reports.parts = was

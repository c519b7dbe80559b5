"""The `parts` fixture: a report test run both ways, with the report
service's parts (ReportKind.build_parts) side by side on two connections of
one snapshot, and as the one statement (app/reports/service.py
`_fetch_parts`). A plugin of tests/conftest.py: a test names it in its
arguments. On a Citus cluster (WHODID_TEST_CITUS) only the one statement.
A module about the parts themselves skips on Citus with
`pytestmark = ON_CITUS_SKIP`."""
from __future__ import annotations

import pytest

from tests.support.database import CITUS_URL

# On a Citus cluster the service runs no parts (every shard runs its share of
# the per-shard statement already: ReportService.report and _funnel).
NO_PARTS_ON_CITUS = "a Citus cluster runs no parts: each shard runs its own share (docs/scaling.md)"


@pytest.fixture(params=[2, 1], ids=["parts", "one-statement"])
def parts(request, services):
    if request.param > 1 and CITUS_URL:
        pytest.skip(NO_PARTS_ON_CITUS)
    was = services.reports.parts
    services.reports.parts = request.param
    yield request.param
    services.reports.parts = was


ON_CITUS_SKIP = pytest.mark.skipif(bool(CITUS_URL), reason=NO_PARTS_ON_CITUS)

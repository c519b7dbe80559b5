"""The funnel's named cases share a week from Monday T0, events given as
(identity, name, seconds after T0[, properties]), and the GraphQL input of a
funnel over that week (tests/reports/test_funnel.py, test_funnel_options.py)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from app.ingest.validation import EventIn
from app.reports.funnel import FunnelResult

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
FROM, TO = T0, T0 + timedelta(days=7)


def T(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def record(services, project, *events: tuple) -> None:
    """events: (identity, name, seconds after T0[, properties]) — one batch, in order."""
    await services.ingest.record_events(
        project.id, [EventIn(e[0], e[1], e[3] if len(e) > 3 else None, T(e[2])) for e in events]
    )


async def pid(services, project, identity: str) -> uuid.UUID:
    return (await services.people.by_identity(project.id, identity)).id


def people(result: FunnelResult) -> list[int]:
    return [s.people for s in result.steps]


def gql_input(*steps: Any, **extra: Any) -> dict:
    """A FunnelInput over [FROM, TO): steps are event names or step inputs."""
    return {
        "steps": [{"event": s} if isinstance(s, str) else s for s in steps],
        "from": FROM.isoformat(),
        "to": TO.isoformat(),
        **extra,
    }

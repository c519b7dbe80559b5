"""Reports over the demo data compared across projects (export then import,
retention): the demo's anchor, and a report value as plain data with person
ids and computation times left out (another project's people have ids of
their own)."""
from __future__ import annotations

import dataclasses
import uuid

from tests.support.scenarios import T

ANCHOR = T(2024, 7, 1)  # a fixed "now" for the demo data (load_demo(..., anchor=ANCHOR))


def plain(value):
    """A report value as plain data, person ids and computation times left out."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("computed_at",)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID):
        return "person"
    return value

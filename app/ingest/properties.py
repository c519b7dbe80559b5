"""Person property resolution as a pure function: the current value of a key is
the one with the latest timestamp; on equal timestamps the later received."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable


@dataclass(frozen=True)
class PropertyChange:
    key: str
    value: Any
    at: datetime
    seq: int  # receive order


def current_values(changes: Iterable[PropertyChange]) -> dict[str, Any]:
    best: dict[str, PropertyChange] = {}
    for change in changes:
        held = best.get(change.key)
        if held is None or (change.at, change.seq) > (held.at, held.seq):
            best[change.key] = change
    return {key: change.value for key, change in sorted(best.items())}


def history(changes: Iterable[PropertyChange], key: str) -> list[PropertyChange]:
    """Every value the key has had, oldest first (by timestamp, then receive order)."""
    return sorted((c for c in changes if c.key == key), key=lambda c: (c.at, c.seq))

"""The paths report's rows → its answer, in DESIGN.md's orders:

- nodes by step (time order), then people descending, then event ascending
  (null after any name with as many people);
- links by fromStep, then people descending, then source, then target (each
  ascending, null after names).

Names compare by code point (Python's str order, the statement's COLLATE "C")."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from .spec import PathsPeopleSpec, PathsSpec


@dataclass(frozen=True)
class PathNode:
    step: int
    event: str | None
    people: int


@dataclass(frozen=True)
class PathLink:
    from_step: int
    source: str | None
    target: str | None
    people: int


@dataclass(frozen=True)
class PathsResult:
    nodes: tuple[PathNode, ...]
    links: tuple[PathLink, ...]


@dataclass(frozen=True)
class PathsPeoplePage:
    people: tuple[uuid.UUID, ...]
    has_next_page: bool


def _name_key(name: str | None) -> tuple[bool, str]:
    """Ascending, null after every name."""
    return (name is None, name or "")


def assemble(rows: Sequence[Any], spec: PathsSpec, computed_at: datetime) -> PathsResult:
    nodes = [PathNode(r["step"], r["source"], r["people"]) for r in rows if r["kind"] == "node"]
    links = [PathLink(r["step"], r["source"], r["target"], r["people"]) for r in rows if r["kind"] == "link"]
    nodes.sort(key=lambda n: (n.step, -n.people, _name_key(n.event)))
    links.sort(key=lambda link: (link.from_step, -link.people, _name_key(link.source), _name_key(link.target)))
    return PathsResult(tuple(nodes), tuple(links))


def assemble_people(rows: Sequence[Any], spec: PathsPeopleSpec, computed_at: datetime) -> PathsPeoplePage:
    ids = tuple(r["person_id"] for r in rows)
    return PathsPeoplePage(ids[: spec.first], len(ids) > spec.first)

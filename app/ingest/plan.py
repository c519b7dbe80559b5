"""The one ingest plan. A protocol (GraphQL, Segment, Kissmetrics, the
importer) only translates its wire format into operations: identity links,
events and property sets, each with the table that renames the ingest rules'
field names into the protocol's (app/ingest/fields.py). `Plan.check` runs the
ingest rules on every operation once, before anything is written (a request
is all-or-nothing); `IngestService.apply` carries a checked plan out: links
first, then the events in as few transactions as the batch limit allows, then
the property sets."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import BadInput
from .fields import FieldTable, field_names, renamed
from .identity import validate_identity
from .validation import EventIn, NormalEvent, check_properties, check_timestamp, normalise_event


@dataclass(frozen=True)
class Link:
    """identify(left=anonymousId, right=userId), or alias(left, right) when `alias`."""

    left: str
    right: str
    alias: bool
    fields: FieldTable = field(default_factory=dict)


class Recording(Protocol):
    """An event to record and the names of its fields (a protocol may build
    its table only when a refusal needs it)."""

    @property
    def event(self) -> EventIn: ...

    @property
    def fields(self) -> FieldTable: ...


@dataclass(slots=True)
class Record:
    event: EventIn
    fields: FieldTable = field(default_factory=dict)


@dataclass(frozen=True)
class SetTraits:
    identity: str
    traits: Any
    timestamp: datetime | None
    fields: FieldTable = field(default_factory=dict)


@dataclass
class Plan:
    links: list[Link] = field(default_factory=list)
    records: list[Recording] = field(default_factory=list)
    traits: list[SetTraits] = field(default_factory=list)
    # The protocol's name for the request as a whole, when its events exceed
    # what one transaction takes (Segment: "batch"); None: the rules' own.
    batch_field: str | None = None

    def check(self, now: datetime) -> list[NormalEvent]:
        """Every operation through the ingest rules (pure); the events of
        `records`, normalised (each is validated once, here)."""
        for link in self.links:
            check_link(link)
        events = []
        for record in self.records:
            try:
                events.append(normalise_event(record.event, now))
            except BadInput as exc:
                raise renamed(exc, record.fields) from None
        for traits in self.traits:
            check_traits(traits, now)
        return events


def check_link(link: Link) -> None:
    """The identities of identify or alias (blank, too long, or on the squash list)."""
    with field_names(link.fields):
        if link.alias:
            validate_identity("input.identity", link.left, for_linking=True)
            validate_identity("input.otherIdentity", link.right, for_linking=True)
        else:
            validate_identity("input.anonymousId", link.left, for_linking=True)
            validate_identity("input.userId", link.right, for_linking=True)


def check_traits(traits: SetTraits, now: datetime) -> tuple[dict, datetime]:
    """A property set: its identity, its properties (at least one) and its
    time; the checked properties and the time they take effect."""
    with field_names(traits.fields):
        validate_identity("input.identity", traits.identity, for_linking=False)
        checked, _ = check_properties("input.properties", traits.traits)
        if not checked:
            raise BadInput("input.properties", "give at least one property to set")
        return checked, check_timestamp("input.timestamp", traits.timestamp, now)

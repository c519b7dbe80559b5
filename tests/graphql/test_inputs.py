"""RecordEventInput builds itself from its input value (Strawberry's
`from_input` hook): the hook must know every field of the type, and give the
same value Strawberry's generic conversion would."""
from __future__ import annotations

from datetime import datetime, timezone

from strawberry.types.arguments import convert_argument

from app.graphql.inputs import RECORD_EVENT_FIELDS, RecordEventInput
from app.graphql.schema import schema


def test_the_hook_names_every_field_of_the_type():
    assert RecordEventInput.__strawberry_definition__.from_input is not None
    fields = RecordEventInput.__strawberry_definition__.fields
    assert {f.python_name for f in fields} == set(RECORD_EVENT_FIELDS)
    assert {schema.config.name_converter.from_field(f) for f in fields} == set(RECORD_EVENT_FIELDS)


def _convert(value: dict) -> RecordEventInput:
    return convert_argument(value, RecordEventInput, schema.schema_converter.scalar_registry, schema.config)


def test_the_hook_gives_what_generic_conversion_gives():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    full = _convert({"identity": "ann", "name": "Signed Up", "properties": {"plan": ["pro", 1]},
                     "timestamp": at, "id": "e-1"})
    assert isinstance(full, RecordEventInput)
    assert (full.identity, full.name, full.properties, full.timestamp, full.id) == (
        "ann", "Signed Up", {"plan": ["pro", 1]}, at, "e-1")
    # Omitted optional fields are None, as the type's defaults say.
    bare = _convert({"identity": "bob", "name": "Visited Site"})
    assert (bare.properties, bare.timestamp, bare.id) == (None, None, None)
    assert bare.to_domain().identity == "bob"

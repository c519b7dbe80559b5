"""The ingest rules name the fields they refuse in their own terms
("input.name", "input.properties.Revenue"); a protocol gives one table from
those names to its own ("_n", "batch[3].event", an export's "_p"), and a
refusal is renamed with it, so that it names what the caller actually sent."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from ..errors import BadInput

FieldTable = Mapping[str, str]


def detail(exc: BadInput) -> str:
    """The message of a BadInput without its "field: " prefix."""
    prefix = f"{exc.field}: "
    return exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message


def protocol_field(field: str, names: FieldTable) -> str:
    """`field` with its longest matching prefix replaced by the protocol's name;
    what follows the prefix (".Revenue", "[2]") is kept."""
    best = None
    for prefix in names:
        if field == prefix or field.startswith(prefix + ".") or field.startswith(prefix + "["):
            if best is None or len(prefix) > len(best):
                best = prefix
    return field if best is None else names[best] + field[len(best):]


def renamed(exc: BadInput, names: FieldTable) -> BadInput:
    return BadInput(protocol_field(exc.field, names), detail(exc))


@contextmanager
def field_names(names: FieldTable) -> Iterator[None]:
    """Re-raise a BadInput from the ingest rules under the protocol's names."""
    try:
        yield
    except BadInput as exc:
        raise renamed(exc, names) from None

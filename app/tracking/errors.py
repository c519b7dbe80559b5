"""Errors of the tracking transport, and the renaming of the ingest service's
field names ("input.name") into the names a tracking protocol uses ("_n",
"batch[3].event"), so that a refusal names what the caller actually sent."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from ..errors import BadInput


class BodyRefused(Exception):
    """The request body as a whole cannot be taken: too large (413) or in a
    content type or encoding we do not read (415)."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = f"{field}: {message}"


def detail(exc: BadInput) -> str:
    """The message of a BadInput without its "field: " prefix."""
    prefix = f"{exc.field}: "
    return exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message


def protocol_field(field: str, names: Mapping[str, str]) -> str:
    """`field` with its longest matching prefix replaced by the protocol's name;
    what follows the prefix (".Revenue", "[2]") is kept."""
    best = None
    for prefix in names:
        if field == prefix or field.startswith(prefix + ".") or field.startswith(prefix + "["):
            if best is None or len(prefix) > len(best):
                best = prefix
    return field if best is None else names[best] + field[len(best):]


def renamed(exc: BadInput, names: Mapping[str, str]) -> BadInput:
    return BadInput(protocol_field(exc.field, names), detail(exc))


@contextmanager
def field_names(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a BadInput from the ingest service under the protocol's names."""
    try:
        yield
    except BadInput as exc:
        raise renamed(exc, names) from None

"""Errors of the tracking transport. The renaming of the ingest rules' field
names ("input.name") into a protocol's ("_n", "batch[3].event") is the ingest
plan's (app/ingest/fields.py), named here too."""
from __future__ import annotations

from ..ingest.fields import detail, field_names, protocol_field, renamed  # noqa: F401


class BodyRefused(Exception):
    """The request body as a whole cannot be taken: too large (413) or in a
    content type or encoding we do not read (415)."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = f"{field}: {message}"

"""Opaque cursors and page-size checks shared by every connection."""
from __future__ import annotations

import base64
from typing import Any

import orjson

from ..errors import BadInput

MAX_PAGE_SIZE = 1000


def check_first(first: int, field: str = "first") -> int:
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadInput(field, f"page size must be between 0 and {MAX_PAGE_SIZE} (got {first})")
    return first


def encode_cursor(kind: str, *values: Any) -> str:
    raw = orjson.dumps([kind, *values], default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, field: str = "after") -> list | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception:
        raise BadInput(field, "not a cursor returned by this API") from None
    if not isinstance(data, list) or not data or data[0] != kind:
        raise BadInput(field, "not a cursor of this list")
    return data[1:]

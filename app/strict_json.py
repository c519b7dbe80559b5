"""Strict JSON for request bodies, read fast.

orjson refuses what JSON does not allow (NaN, Infinity, numbers beyond a
double's range, invalid UTF-8) and nesting deeper than 1,024 levels, and is
several times faster than Python's json. It reads an integer of more than 64
bits as a rounded float, though, so that two long numeric user ids could become
the same identity: when the text holds a run of 20 digits, it is read again,
exactly, with Python's json (orjson has already checked the syntax)."""
from __future__ import annotations

import json
import re

import orjson

_LONG_DIGITS = re.compile(rb"[0-9]{20}")
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{20}")

# orjson.JSONDecodeError is a subclass of this.
JSONDecodeError = json.JSONDecodeError


def loads(data: bytes | str) -> object:
    """The value of a JSON text; json.JSONDecodeError when it is not strict JSON."""
    value = orjson.loads(data)
    pattern = _LONG_DIGITS if isinstance(data, (bytes, bytearray)) else _LONG_DIGITS_TEXT
    if pattern.search(data):
        try:
            value = json.loads(data)
        except (ValueError, RecursionError) as exc:  # e.g. an integer of over 4,300 digits
            raise JSONDecodeError(f"not valid JSON: {type(exc).__name__}", "", 0) from None
    return value

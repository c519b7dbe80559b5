"""Kissmetrics' data rules, shared by its tracking endpoint (/e with `_d=1`)
and the export importer: `_t` as unix seconds, and the idempotency id of an
event with a client time (Kissmetrics' own duplicate rule). Pure functions;
the wire parsing stays in app/tracking/kissmetrics.py."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import orjson

from ..errors import BadInput

TIME = "_t"
# Anything later than this is not unix seconds (it is 5138-11-16): most likely milliseconds.
MAX_UNIX_SECONDS = 10**11


def unix_time(value: object, field: str = TIME) -> tuple[datetime, str]:
    """Unix seconds (an integer, or a decimal for sub-second times) as a UTC
    datetime, and its canonical text (the same instant always gives the same
    text, so it can key duplicates)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(field, "must be unix time in seconds")
    text = str(value).strip()
    if len(text) < 20 and text.isascii() and text.isdigit():  # whole seconds, the usual form: no Decimal
        whole = int(text)
        if whole >= MAX_UNIX_SECONDS:
            raise BadInput(field, f"{text[:40]} is too large for unix seconds (milliseconds? send seconds)")
        return datetime.fromtimestamp(whole, tz=timezone.utc), str(whole)
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        raise BadInput(field, f"must be unix time in seconds, got {text[:40]!r}") from None
    if not seconds.is_finite() or seconds < 0:
        raise BadInput(field, f"must be unix time in seconds, got {text[:40]!r}")
    if seconds >= MAX_UNIX_SECONDS:
        raise BadInput(field, f"{text[:40]} is too large for unix seconds (milliseconds? send seconds)")
    canonical = format(seconds.normalize(), "f") if seconds != seconds.to_integral_value() else str(int(seconds))
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc), canonical


def event_id(identity: str, name: str, time_text: str) -> str:
    """The idempotency id of an event with a client time: Kissmetrics' own
    duplicate rule, one event per (identity, name, _t)."""
    digest = hashlib.sha256(orjson.dumps([identity, name, time_text])).hexdigest()
    return f"km:{digest}"

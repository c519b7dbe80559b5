"""Property filters (FilterOp) compiled to SQL over a jsonb column.

Semantics (docs/reports.md): values compare by their text form (a string is its
own text, anything else its JSON text); GT/GTE/LT/LTE compare numerically and
match only numbers or numeric strings; NEQ matches when the key is missing;
CONTAINS and STARTS_WITH are case-sensitive; IN takes a JSON array."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from ..errors import BadInput


class FilterOp(str, Enum):
    EQ = "EQ"
    NEQ = "NEQ"
    CONTAINS = "CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    EXISTS = "EXISTS"
    NOT_EXISTS = "NOT_EXISTS"
    IN = "IN"


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    op: FilterOp = FilterOp.EQ
    value: Any = None

    def normalised(self) -> tuple:
        return (self.key, self.op.value, orjson.dumps(self.value, option=orjson.OPT_SORT_KEYS).decode())


_COMPARE = {FilterOp.GT: ">", FilterOp.GTE: ">=", FilterOp.LT: "<", FilterOp.LTE: "<="}


class Params:
    """Collects positional query parameters ($1, $2, ...)."""

    def __init__(self, *initial: Any):
        self.values: list[Any] = list(initial)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def validate_filter(field: str, f: PropertyFilter) -> None:
    if not isinstance(f.key, str) or not f.key or len(f.key) > 255 or "\x00" in f.key:
        raise BadInput(f"{field}.key", "a property key is 1-255 characters")
    if f.op is FilterOp.IN and not isinstance(f.value, list):
        raise BadInput(f"{field}.value", "IN needs a JSON array of values")
    if f.op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH) and f.value is None:
        raise BadInput(f"{field}.value", f"{f.op.value} needs a value")
    if f.op in _COMPARE and (isinstance(f.value, bool) or not isinstance(f.value, (int, float, str))):
        raise BadInput(f"{field}.value", f"{f.op.value} needs a number or a numeric string")
    _check_value(f"{field}.value", f.value)


def _check_value(field: str, value: Any, depth: int = 0) -> None:
    """A value that serialises to JSON that jsonb can hold: no NUL character,
    finite numbers, integers of at most 64 bits, nested at most 64 levels."""
    if depth > 64:
        raise BadInput(field, "JSON nested deeper than 64 levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise BadInput(field, "the NUL character is not allowed")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise BadInput(field, "an integer of more than 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(field, "numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise BadInput(field, "object keys are strings without the NUL character")
            _check_value(field, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(field, item, depth + 1)


def filter_sql(column: str, f: PropertyFilter, params: Params) -> str:
    """One condition over `column` (a jsonb expression) for this filter."""
    key = params.add(f.key)
    prop = f"({column} -> {key}::text)"
    has = f"({column} ? {key}::text)"
    if f.op is FilterOp.EXISTS:
        return has
    if f.op is FilterOp.NOT_EXISTS:
        return f"NOT {has}"
    # Sent as JSON text and cast here, so that a JSON null stays a JSON null.
    value = f"({params.add(orjson.dumps(f.value).decode())}::text)::jsonb"
    vtext = f"whodid_text({value})"
    if f.op is FilterOp.EQ:
        return f"({has} AND whodid_text{prop} = {vtext})"
    if f.op is FilterOp.NEQ:
        return f"(NOT {has} OR whodid_text{prop} IS DISTINCT FROM {vtext})"
    if f.op is FilterOp.CONTAINS:
        return f"({has} AND strpos(whodid_text{prop}, {vtext}) > 0)"
    if f.op is FilterOp.STARTS_WITH:
        return f"({has} AND starts_with(whodid_text{prop}, {vtext}))"
    if f.op is FilterOp.IN:
        return (
            f"({has} AND whodid_text{prop} IN "
            f"(SELECT whodid_text(x) FROM jsonb_array_elements({value}) AS x))"
        )
    return f"(whodid_numeric{prop} {_COMPARE[f.op]} whodid_numeric({value}))"


def text_form(column: str, key: str) -> str:
    """SQL: whodid_text(column -> key) with one key lookup (`key` a text
    placeholder or literal): a string is its text, anything else its JSON
    text (JSON null: 'null'), a missing key NULL. Inlined whodid_text looks
    the key up three times: for the persons of the bench trend (103,306
    rows) 93 -> 23 ms of backend CPU (docs/benchmarks.md §16.4)."""
    return f"coalesce({column} ->> {key}::text, CASE WHEN {column} ? {key}::text THEN 'null' END)"


def filters_sql(column: str, filters: list[PropertyFilter] | None, params: Params) -> str:
    if not filters:
        return "TRUE"
    return " AND ".join(filter_sql(column, f, params) for f in filters)

"""Normalising input: every refusal names the field."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.errors import BadInput
from app.ingest.validation import EventIn, normalise_batch, normalise_event, parse_revenue

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def refuse(event: EventIn, field: str, match: str) -> None:
    with pytest.raises(BadInput, match=match) as err:
        normalise_event(event, NOW)
    assert err.value.field == field


def test_defaults_and_revenue():
    e = normalise_event(EventIn("anon", "Paid", {"Revenue": "19.90"}), NOW)
    assert (e.timestamp, e.revenue, e.properties) == (NOW, Decimal("19.90"), {"Revenue": "19.90"})
    assert normalise_event(EventIn("a", "Refund", {"Revenue": -5.5}), NOW).revenue == Decimal("-5.5")
    assert parse_revenue("f", 0.1) == Decimal("0.1")


def test_refusals_name_the_field():
    refuse(EventIn("a", ""), "input.name", "1-255")
    refuse(EventIn("a", "x" * 256), "input.name", "1-255")
    refuse(EventIn("a", "x", [1, 2]), "input.properties", "JSON object")
    refuse(EventIn("a", "x", {f"k{i}": i for i in range(256)}), "input.properties", "at most 255 keys")
    refuse(EventIn("a", "x", {"k" * 256: 1}), "input.properties", "longer than 255")
    refuse(EventIn("a", "x", {"big": "x" * 33000}), "input.properties", "32 KiB")
    refuse(EventIn("a", "x", {"Revenue": "lots"}), "input.properties.Revenue", "numeric")
    refuse(EventIn("a", "x", {"Revenue": True}), "input.properties.Revenue", "boolean")
    refuse(EventIn("a", "x", {"Revenue": "NaN"}), "input.properties.Revenue", "finite")
    refuse(EventIn("a", "x", {"k": "a\x00b"}), "input.properties", "NUL")
    refuse(EventIn("a", "x", timestamp=datetime(1999, 12, 31, tzinfo=timezone.utc)), "input.timestamp", "2000-01-01")
    refuse(EventIn("a", "x", timestamp=NOW + timedelta(hours=25)), "input.timestamp", "24 hours")
    refuse(EventIn("a", "x", id=""), "input.id", "1-255")


def test_batches_have_limits():
    with pytest.raises(BadInput, match="at most 1000"):
        normalise_batch([EventIn("a", "x")] * 1001, NOW)
    with pytest.raises(BadInput, match="at least one"):
        normalise_batch([], NOW)
    with pytest.raises(BadInput, match="512 KiB"):
        normalise_batch([EventIn("a", "x", {"p": "y" * 30000})] * 20, NOW)
    with pytest.raises(BadInput) as err:
        normalise_batch([EventIn("a", "x"), EventIn("a", "")], NOW)
    assert err.value.field == "input[1].name"


def test_event_ids_are_time_ordered():
    first = normalise_event(EventIn("a", "x"), NOW).id
    later = normalise_event(EventIn("a", "x"), NOW + timedelta(seconds=1)).id
    assert first.version == 7 and later > first

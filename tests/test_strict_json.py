"""app/strict_json.py: what JSON does not allow is refused, long integers are exact."""
from __future__ import annotations

import json

import pytest

from app import strict_json


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e309", b'"\xff"', b"[" * 2000 + b"]" * 2000,
                                  b"{'a': 1}", b"", b"[1,]", "9" * 5000])
def test_not_strict_json_is_refused(text):
    with pytest.raises(json.JSONDecodeError):
        strict_json.loads(text)


@pytest.mark.parametrize("as_text", [False, True])
def test_integers_beyond_64_bits_are_exact(as_text):
    text = '{"userId": 123456789012345678901234567890, "small": 9223372036854775807, "f": 1.5}'
    value = strict_json.loads(text if as_text else text.encode())
    assert value == {"userId": 123456789012345678901234567890, "small": 9223372036854775807, "f": 1.5}
    assert isinstance(value["userId"], int)


def test_long_digit_runs_elsewhere_change_nothing():
    text = b'{"id": "00000000000000000000000", "n": 1e25, "list": [18446744073709551616]}'
    assert strict_json.loads(text) == {"id": "0" * 23, "n": 1e25, "list": [18446744073709551616]}


def test_the_digit_run_test():
    assert strict_json.has_long_integer(b"x 12345678901234567890 y")
    assert not strict_json.has_long_integer(b"x 1234567890123456789 y 1234567890123456789")
    assert not strict_json.has_long_integer(b"")

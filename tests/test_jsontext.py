"""What the stored JSON text makes of values JSON has no type for."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone

import numpy as np
import pytest

from st_session_guard import jsontext


def test_values_without_a_json_type_are_stored_readably() -> None:
    value = {
        "tags": {"b", "a"},
        "when": datetime(2026, 11, 25, 1, 2, 3, tzinfo=timezone.utc),
        "day": date(2026, 11, 25),
        "count": np.int64(3),
        "ratio": np.float32(0.5),
        "grid": np.array([[1, 2], [3, 4]]),
        "other": object,
        7: "an integer key",
    }
    assert json.loads(jsontext.dumps(value)) == {
        "tags": ["a", "b"],
        "when": "2026-11-25T01:02:03+00:00",
        "day": "2026-11-25",
        "count": 3,
        "ratio": 0.5,
        "grid": [[1, 2], [3, 4]],
        "other": "<class 'object'>",
        "7": "an integer key",
    }


def test_a_float_that_is_not_finite_is_stored_as_null_as_the_browser_would() -> None:
    assert json.loads(jsontext.dumps([math.nan, math.inf, -math.inf, 1.5])) == [None, None, None, 1.5]


def test_text_is_utf8_not_escaped_and_reads_back() -> None:
    text = jsontext.dumps({"bio": "naïve café ✓"})
    assert "naïve café ✓".encode() in text
    assert jsontext.loads(text) == {"bio": "naïve café ✓"}


def test_what_cannot_be_stored_raises_type_error_and_bad_text_value_error() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps(2**70)
    with pytest.raises(ValueError):
        jsontext.loads("{not json")


def test_a_key_that_is_not_a_string_deep_inside_is_written_as_one_with_everything_around_it() -> None:
    value = {"forms": {"f": {"grid": [{1: "one", 2.5: "half"}]}}, "when": date(2026, 11, 25)}
    assert json.loads(jsontext.dumps(value)) == {
        "forms": {"f": {"grid": [{"1": "one", "2.5": "half"}]}}, "when": "2026-11-25",
    }

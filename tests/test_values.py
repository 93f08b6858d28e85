from __future__ import annotations

import enum
import json
from datetime import date, datetime, time, timezone
from typing import Any

import pytest

from st_session_guard import values
from st_session_guard.values import Unfit


@pytest.mark.parametrize(
    "value",
    ["text", 3, 2.5, True, None, [1, "a"], date(2020, 1, 31), time(8, 45),
     datetime(2020, 1, 31, 8, 45), (3, 7), (date(2020, 1, 1), date(2020, 2, 1))],
)
def test_every_widget_value_survives_the_json_round_trip(value: Any) -> None:
    import json

    assert values.decode(json.loads(json.dumps(values.encode(value)))) == value


def test_objects_that_are_not_values_are_not_persisted() -> None:
    with pytest.raises(TypeError):
        values.encode(object())


@pytest.mark.parametrize(
    "value",
    [{"$date": "not a tag"}, {"when": date(2027, 3, 3), "times": [time(1, 2), (1, "a")]},
     [[datetime(2027, 3, 3, 12, tzinfo=timezone.utc)]], {"$dict": {"$tuple": []}}, {}],
)
def test_dicts_and_nested_values_come_back_as_they_were_even_when_a_key_reads_as_a_tag(value: Any) -> None:
    assert values.decode(json.loads(json.dumps(values.encode(value), allow_nan=False))) == value


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 2**64, -(2**63) - 1, {1: "a"}, [object()], {"a": {"b": {2}}}]
)
def test_a_value_json_would_not_give_back_is_refused_with_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        values.encode(value)


def test_a_str_or_int_enum_member_is_stored_as_its_plain_value() -> None:
    class Plan(str, enum.Enum):
        PRO = "pro"

    class Level(enum.IntEnum):
        HIGH = 3

    assert values.encode(Plan.PRO) == "pro" and type(values.encode(Plan.PRO)) is str
    assert values.encode([Level.HIGH]) == [3]


def test_a_tag_with_a_bad_value_is_unfit() -> None:
    for bad in ({"$date": "yesterday"}, {"$tuple": 3}, {"$dict": []}):
        with pytest.raises(Unfit):
            values.decode(bad)


def test_a_removed_option_is_refused_and_a_kept_one_gives_its_index() -> None:
    assert values.fit_choice_index("b", {"options": ["a", "b"]}) == 1
    with pytest.raises(Unfit):
        values.fit_choice_index("c", {"options": ["a", "b"]})
    with pytest.raises(Unfit):
        values.fit_many(["a", "c"], {"options": ["a", "b"]})


def test_a_number_outside_a_new_range_is_refused() -> None:
    assert values.fit_number(5, {"min_value": 0, "max_value": 10}) == 5
    with pytest.raises(Unfit):
        values.fit_number(50, {"min_value": 0, "max_value": 10})


def test_number_type_follows_the_widget_declaration() -> None:
    assert isinstance(values.fit_number(5.0, {"value": 1, "min_value": 0}), int)
    assert isinstance(values.fit_number(5, {"value": 1.0}), float)
    assert values.fit_number("42", {"value": 1}) == 42
    with pytest.raises(Unfit):
        values.fit_number(2.5, {"value": 1, "step": 1})
    with pytest.raises(Unfit):
        values.fit_number(True, {})


def test_a_changed_type_is_refused() -> None:
    with pytest.raises(Unfit):
        values.fit_text(42, {})
    with pytest.raises(Unfit):
        values.fit_bool("yes", {})
    with pytest.raises(Unfit):
        values.fit_slider((1, 2), {"value": 5})
    with pytest.raises(Unfit):
        values.fit_slider(2.5, {"value": 5})
    with pytest.raises(Unfit):
        values.fit_time("08:00", {})
    with pytest.raises(Unfit):
        values.fit_color("red", {})


def test_text_longer_than_max_chars_is_refused() -> None:
    with pytest.raises(Unfit):
        values.fit_text("abcdef", {"max_chars": 3})


def test_sliders_and_dates_check_their_range() -> None:
    assert values.fit_slider([2, 8], {"value": (1, 9), "min_value": 0, "max_value": 10}) == (2, 8)
    with pytest.raises(Unfit):
        values.fit_slider(11, {"min_value": 0, "max_value": 10})
    with pytest.raises(Unfit):
        values.fit_date(date(1999, 1, 1), {"min_value": date(2000, 1, 1)})
    assert values.fit_select_slider("L", {"options": ["S", "L"]}) == "L"
    with pytest.raises(Unfit):
        values.fit_select_slider("XL", {"options": ["S", "L"]})


def test_a_cleared_date_or_time_is_restored_as_cleared() -> None:
    assert values.fit_date(None, {"value": date(2020, 1, 1)}) is None
    assert values.fit_time(None, {"value": time(8, 0)}) is None

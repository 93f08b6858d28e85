"""Widget values as stored JSON, and whether a stored value still fits a widget.

An app changes: an option is removed, a range narrows, a type changes.
Streamlit raises on a selectbox value that is not among its options, so a
restored value is checked against the widget as the app declares it *now*,
and one that no longer fits is refused (the caller logs it and the widget
shows its default).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, Final

from .records import JSON


class Unfit(ValueError):
    """A stored value the widget, as declared now, cannot take."""


_PLAIN: Final = frozenset({str, bool, type(None)})
_INT_RANGE: Final = range(-(2**63), 2**64)
"""What a stored integer can be: JSON's writer here takes no more than 64 bits."""


def encode(value: Any) -> JSON:
    """JSON for a value, tagged where JSON has no type for it, so it comes back as it was.

    Dates, times and datetimes, tuples, and lists and string-keyed dicts of
    such values. ``TypeError`` for anything else (a float that is not finite,
    an integer past 64 bits, a dict with other keys, an object): better at
    the call that took it than in a later run. Called twice per wrapped
    widget on every script run: plain values are recognised by type first.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        if value not in _INT_RANGE:
            raise TypeError(f"{value} does not fit in 64 bits, and cannot be stored")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"{value} is not a finite number, and cannot be stored")
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        if not all(type(key) is str for key in value):
            raise TypeError("a dict is stored only with string keys")
        encoded = {key: encode(v) for key, v in value.items()}
        # A dict of one key that reads as a tag is wrapped, so it is not taken for a tagged value.
        return {"$dict": encoded} if len(encoded) == 1 and next(iter(encoded)).startswith("$") else encoded
    if isinstance(value, str):  # a subclass (a str enum member): stored as the plain value
        return str.__str__(value)
    if isinstance(value, (int, float)):  # an int enum member, say
        return encode((int if isinstance(value, int) else float)(value))
    raise TypeError(f"{kind.__name__} values cannot be stored")


_DECODERS: Final[dict[str, Callable[[Any], Any]]] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$tuple": lambda items: tuple(decode(v) for v in items),
    "$dict": lambda items: {key: decode(v) for key, v in items.items()},
}


def decode(raw: JSON) -> Any:
    """The value ``encode`` made ``raw`` from; ``Unfit`` for a tag with a bad value."""
    if isinstance(raw, Mapping):
        if len(raw) == 1:
            (tag, inner), = raw.items()
            if tag in _DECODERS:
                try:
                    return _DECODERS[tag](inner)
                except (AttributeError, TypeError, ValueError) as error:
                    raise Unfit(f"bad {tag} value: {error}") from error
        return {key: decode(v) for key, v in raw.items()}
    if isinstance(raw, list):
        return [decode(v) for v in raw]
    return raw


# A fit rule gets the decoded stored value and the widget's keyword arguments,
# and returns what to pass as the widget's seeding argument (or raises Unfit).
FitRule = Callable[[Any, Mapping[str, Any]], Any]


def _options(kwargs: Mapping[str, Any]) -> list[Any]:
    return list(kwargs.get("options") or [])


def fit_text(value: Any, kwargs: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise Unfit("not text")
    max_chars = kwargs.get("max_chars")
    if max_chars is not None and len(value) > max_chars:
        raise Unfit(f"longer than max_chars={max_chars}")
    return value


def _declared_float(kwargs: Mapping[str, Any]) -> bool:
    declared = [kwargs.get(k) for k in ("value", "min_value", "max_value", "step")]
    numbers = [v for v in declared if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return not numbers or any(isinstance(v, float) for v in numbers)


def _in_range(value: Any, kwargs: Mapping[str, Any]) -> None:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    try:
        if low is not None and value < low or high is not None and value > high:
            raise Unfit(f"outside [{low}, {high}]")
    except TypeError as error:
        raise Unfit(f"not comparable with the range: {error}") from error


def fit_number(value: Any, kwargs: Mapping[str, Any]) -> int | float:
    if isinstance(value, str):  # a draft: the text typed so far
        try:
            value = float(value)
        except ValueError as error:
            raise Unfit("not a number") from error
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unfit("not a number")
    if _declared_float(kwargs):
        number: int | float = float(value)
    elif float(value).is_integer():
        number = int(value)
    else:
        raise Unfit("a fraction where the widget takes integers")
    _in_range(number, kwargs)
    return number


def options_with_new(value: Any, kwargs: Mapping[str, Any]) -> list[Any]:
    """The declared options, plus the strings in ``value`` a user typed as new options, where
    the widget takes new ones (``accept_new_options=True``): a widget seeds only from its options."""
    options = _options(kwargs)
    if not kwargs.get("accept_new_options"):
        return options
    typed = [v for v in _ends(value) if isinstance(v, str) and v not in options]
    return [*options, *dict.fromkeys(typed)] if typed else options


def fit_choice_index(value: Any, kwargs: Mapping[str, Any]) -> int:
    options = options_with_new(value, kwargs)
    if value not in options:
        raise Unfit(f"{value!r} is no longer an option")
    return options.index(value)


def fit_many(value: Any, kwargs: Mapping[str, Any]) -> list[Any]:
    if not isinstance(value, list):
        raise Unfit("not a list")
    options = options_with_new(value, kwargs)
    missing = [v for v in value if v not in options]
    if missing:
        raise Unfit(f"{missing!r} no longer among the options")
    limit = kwargs.get("max_selections")
    if limit is not None and len(value) > limit:
        raise Unfit(f"more than max_selections={limit}")
    return value


def fit_pills(value: Any, kwargs: Mapping[str, Any]) -> Any:
    """``st.pills`` and ``st.segmented_control``: one option (or none) or a list, by selection mode."""
    if kwargs.get("selection_mode", "single") == "multi":
        return fit_many(value, {"options": kwargs.get("options")})
    if value is None:
        if kwargs.get("required"):
            raise Unfit("nothing chosen where a choice is required")
        return None
    if value not in _options(kwargs):
        raise Unfit(f"{value!r} is no longer an option")
    return value


_FEEDBACK_SCALE: Final = {"thumbs": 2, "faces": 5, "stars": 5}


def fit_feedback(value: Any, kwargs: Mapping[str, Any]) -> int | None:
    if value is None:
        return None
    scale = _FEEDBACK_SCALE.get(kwargs.get("options", "thumbs"), 0)
    if type(value) is not int or not 0 <= value < scale:
        raise Unfit(f"{value!r} is not a rating on this scale")
    return value


def fit_page(value: Any, kwargs: Mapping[str, Any]) -> int:
    """``st.pagination``: a page number from 1 to ``num_pages``."""
    if type(value) is not int:
        raise Unfit("not a page number")
    _in_range(value, {"min_value": 1, "max_value": kwargs.get("num_pages")})
    return value


def fit_tab(value: Any, kwargs: Mapping[str, Any]) -> str:
    if value not in list(kwargs.get("tabs") or []):
        raise Unfit(f"{value!r} is no longer a tab")
    return str(value)


def fit_bool(value: Any, kwargs: Mapping[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise Unfit("not true or false")
    return value


def _ends(value: Any) -> Sequence[Any]:
    return value if isinstance(value, (tuple, list)) else (value,)


def fit_slider(value: Any, kwargs: Mapping[str, Any]) -> Any:
    declared = kwargs.get("value")
    if declared is None:
        declared = kwargs.get("min_value", 0)
    if isinstance(declared, (tuple, list)) != isinstance(value, (tuple, list)):
        raise Unfit("a range where a single value is declared, or the other way round")
    kind = type(_ends(declared)[0])
    for end in _ends(value):
        if type(end) is not kind and not (kind is float and type(end) is int):
            raise Unfit(f"{type(end).__name__} where the slider takes {kind.__name__}")
        _in_range(end, kwargs)
    return tuple(value) if isinstance(value, (tuple, list)) else value


def fit_select_slider(value: Any, kwargs: Mapping[str, Any]) -> Any:
    options = _options(kwargs)
    for end in _ends(value):
        if end not in options:
            raise Unfit(f"{end!r} is no longer an option")
    return tuple(value) if isinstance(value, (tuple, list)) else value


def fit_date(value: Any, kwargs: Mapping[str, Any]) -> Any:
    if value is None:  # the user cleared the field
        return None
    for end in _ends(value):
        if not isinstance(end, date) or isinstance(end, datetime) and not isinstance(
            kwargs.get("value"), datetime
        ):
            raise Unfit("not a date")
        _in_range(end, kwargs)
    return tuple(value) if isinstance(value, (tuple, list)) else value


def fit_time(value: Any, kwargs: Mapping[str, Any]) -> time | None:
    if value is None:  # the user cleared the field
        return None
    if not isinstance(value, time):
        raise Unfit("not a time of day")
    return value


def fit_datetime(value: Any, kwargs: Mapping[str, Any]) -> datetime | None:
    if value is None:  # the user cleared the field
        return None
    if not isinstance(value, datetime):
        raise Unfit("not a date and time")
    _in_range(value, {k: v for k, v in kwargs.items() if k in ("min_value", "max_value") and isinstance(v, datetime)})
    return value


_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")


def fit_color(value: Any, kwargs: Mapping[str, Any]) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise Unfit("not a #rrggbb colour")
    return value
